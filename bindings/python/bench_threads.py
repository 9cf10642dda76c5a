"""Scanning 1,000 small files from 1 thread and from 4 threads sharing one
Scanner (the GIL is released while scanning): prints both times and the
speed-up. Usage: python bench_threads.py [FILES] [ROUNDS]"""

import concurrent.futures
import pathlib
import random
import statistics
import sys
import tempfile
import time

import pugmark

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        pugmark.index_paths(tmp / "idx", [ROOT / "data-samples" / "reserve"])
        scanner = pugmark.Scanner(tmp / "idx")
        rng = random.Random(7)
        files = []
        for i in range(count):
            # Small outgoing files: a log-like text of 2-8 KiB.
            lines = [
                f"{rng.randrange(10**9)},{rng.random():.6f},station-{rng.randrange(50)}"
                for _ in range(rng.randrange(80, 320))
            ]
            path = tmp / f"out-{i}.csv"
            path.write_text("\n".join(lines) + "\n")
            files.append(path)

        def run(threads):
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                verdicts = list(pool.map(lambda f: scanner.scan_path(f)["verdict"], files))
            took = time.perf_counter() - started
            assert all(v == "clean" for v in verdicts), set(verdicts)
            return took

        run(4)  # warm-up
        one, four = [], []
        for _ in range(rounds):
            one.append(run(1))
            four.append(run(4))
        a, b = statistics.median(one), statistics.median(four)
        print(f"{count} files: 1 thread {a:.3f} s, 4 threads {b:.3f} s, speed-up {a / b:.2f}x")


if __name__ == "__main__":
    main()
