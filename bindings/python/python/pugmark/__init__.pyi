from os import PathLike
from typing import Any, Callable, Dict, Iterable, Optional, Union

__version__: str

Report = Dict[str, Any]

class Cancel:
    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...

def index_paths(
    directory: Union[str, PathLike[str]],
    paths: Iterable[Union[str, PathLike[str]]],
    progress: Optional[Callable[[int, int], object]] = None,
    cancel: Optional[Cancel] = None,
) -> Dict[str, Any]: ...

class Index:
    def __init__(self, directory: Union[str, PathLike[str]]) -> None: ...
    @property
    def live_items(self) -> int: ...
    @property
    def params(self) -> Dict[str, Any]: ...

class Scanner:
    index: Index
    def __init__(self, index: Union[Index, str, PathLike[str]]) -> None: ...
    def scan_bytes(
        self,
        name: str,
        data: Union[bytes, bytearray, memoryview],
        cancel: Optional[Cancel] = None,
    ) -> Report: ...
    def scan_path(
        self,
        path: Union[str, bytes, PathLike[str], PathLike[bytes]],
        cancel: Optional[Cancel] = None,
    ) -> Report: ...
    def reload(self) -> bool: ...
