/*
 * dlp_check: what a C DLP tool does with pugmark. Opens the index once,
 * scans each file named on the command line (by path, and once more
 * through an open descriptor, as a proxy hands over a stream), prints one
 * line per file, and exits 0 when every file is clean, 1 when something
 * protected was found, 2 when something could not be fully examined (fail
 * closed: hold it for a person).
 *
 *   cc -Wall -Werror -Icrates/pugmark-capi/include -o dlp_check \
 *      examples/c/dlp_check.c target/debug/libpugmark_capi.a -lpthread -ldl -lm
 *   ./dlp_check INDEX_DIR FILE...
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pugmark.h"

static const char *verdict_name(PugmarkVerdict v) {
    switch (v) {
    case PUGMARK_VERDICT_CLEAN: return "clean";
    case PUGMARK_VERDICT_MATCH: return "match";
    case PUGMARK_VERDICT_INCOMPLETE: return "incomplete";
    default: return "error";
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s INDEX_DIR FILE...\n", argv[0]);
        return 2;
    }
    char *error = NULL;
    PugmarkIndex *index = pugmark_index_open(argv[1], &error);
    if (index == NULL) {
        fprintf(stderr, "dlp_check: %s\n", error ? error : "cannot open the index");
        pugmark_string_free(error);
        return 2;
    }
    int status = 0;
    for (int i = 2; i < argc; i++) {
        /* A long-running service picks up a rebuilt or grown index between
         * requests (cheap when nothing changed: one small file read). */
        if (pugmark_index_reload(index, &error) < 0) {
            fprintf(stderr, "dlp_check: keeping the open index: %s\n", error);
            pugmark_string_free(error);
            error = NULL;
        }
        char *report = NULL;
        PugmarkVerdict by_path = pugmark_scan_path(index, argv[i], &report);
        /* The report is the evidence an analyst keeps: JSON schema 1. */
        int has_evidence = report != NULL && strstr(report, "\"evidence\"") != NULL;
        pugmark_string_free(report);

        PugmarkVerdict by_fd = PUGMARK_VERDICT_ERROR;
        int fd = open(argv[i], O_RDONLY);
        if (fd >= 0) {
            by_fd = pugmark_scan_fd(index, fd, argv[i], NULL);
            close(fd);
        }
        printf("%-10s %s%s\n", verdict_name(by_path), argv[i],
               by_fd == by_path ? "" : " (stream verdict differs)");
        if (by_fd != by_path) {
            status = 2;
        }
        if (by_path == PUGMARK_VERDICT_MATCH && !has_evidence) {
            fprintf(stderr, "dlp_check: %s: a match without evidence\n", argv[i]);
            status = 2;
        }
        if (by_path == PUGMARK_VERDICT_MATCH && status == 0) {
            status = 1;
        } else if (by_path != PUGMARK_VERDICT_CLEAN && by_path != PUGMARK_VERDICT_MATCH) {
            status = 2;
        }
    }
    pugmark_index_free(index);
    return status;
}
