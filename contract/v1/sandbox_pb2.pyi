from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXEC_STATUS_UNSPECIFIED: _ClassVar[ExecStatus]
    EXEC_STATUS_OK: _ClassVar[ExecStatus]
    EXEC_STATUS_RUNTIME_ERROR: _ClassVar[ExecStatus]
    EXEC_STATUS_TIMEOUT: _ClassVar[ExecStatus]
    EXEC_STATUS_MEMORY_LIMIT: _ClassVar[ExecStatus]
    EXEC_STATUS_OUTPUT_LIMIT: _ClassVar[ExecStatus]
    EXEC_STATUS_COMPILE_ERROR: _ClassVar[ExecStatus]
    EXEC_STATUS_INVALID: _ClassVar[ExecStatus]
    EXEC_STATUS_ERROR: _ClassVar[ExecStatus]
EXEC_STATUS_UNSPECIFIED: ExecStatus
EXEC_STATUS_OK: ExecStatus
EXEC_STATUS_RUNTIME_ERROR: ExecStatus
EXEC_STATUS_TIMEOUT: ExecStatus
EXEC_STATUS_MEMORY_LIMIT: ExecStatus
EXEC_STATUS_OUTPUT_LIMIT: ExecStatus
EXEC_STATUS_COMPILE_ERROR: ExecStatus
EXEC_STATUS_INVALID: ExecStatus
EXEC_STATUS_ERROR: ExecStatus

class File(_message.Message):
    __slots__ = ("path", "content")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: bytes
    def __init__(self, path: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("cpu_time_s", "wall_time_s", "memory_bytes", "max_processes", "max_file_bytes", "max_open_files", "max_output_bytes")
    CPU_TIME_S_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_S_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    MAX_FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_FILES_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    cpu_time_s: float
    wall_time_s: float
    memory_bytes: int
    max_processes: int
    max_file_bytes: int
    max_open_files: int
    max_output_bytes: int
    def __init__(self, cpu_time_s: _Optional[float] = ..., wall_time_s: _Optional[float] = ..., memory_bytes: _Optional[int] = ..., max_processes: _Optional[int] = ..., max_file_bytes: _Optional[int] = ..., max_open_files: _Optional[int] = ..., max_output_bytes: _Optional[int] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("code", "language", "stdin", "files", "limits", "argv")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    code: bytes
    language: str
    stdin: bytes
    files: _containers.RepeatedCompositeFieldContainer[File]
    limits: Limits
    argv: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, code: _Optional[bytes] = ..., language: _Optional[str] = ..., stdin: _Optional[bytes] = ..., files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., argv: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecuteResult(_message.Message):
    __slots__ = ("exit_code", "signal", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "wall_time_s", "cpu_time_s", "max_rss_bytes", "status", "detail")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    STDOUT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    STDERR_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    WALL_TIME_S_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_S_FIELD_NUMBER: _ClassVar[int]
    MAX_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    signal: int
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    wall_time_s: float
    cpu_time_s: float
    max_rss_bytes: int
    status: ExecStatus
    detail: str
    def __init__(self, exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., stdout_truncated: _Optional[bool] = ..., stderr_truncated: _Optional[bool] = ..., wall_time_s: _Optional[float] = ..., cpu_time_s: _Optional[float] = ..., max_rss_bytes: _Optional[int] = ..., status: _Optional[_Union[ExecStatus, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class TestCase(_message.Message):
    __slots__ = ("stdin", "argv")
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    stdin: bytes
    argv: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, stdin: _Optional[bytes] = ..., argv: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecuteBatchRequest(_message.Message):
    __slots__ = ("code", "language", "files", "limits", "cases", "stop_on_failure")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    STOP_ON_FAILURE_FIELD_NUMBER: _ClassVar[int]
    code: bytes
    language: str
    files: _containers.RepeatedCompositeFieldContainer[File]
    limits: Limits
    cases: _containers.RepeatedCompositeFieldContainer[TestCase]
    stop_on_failure: bool
    def __init__(self, code: _Optional[bytes] = ..., language: _Optional[str] = ..., files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., cases: _Optional[_Iterable[_Union[TestCase, _Mapping]]] = ..., stop_on_failure: _Optional[bool] = ...) -> None: ...

class ExecuteBatchResult(_message.Message):
    __slots__ = ("compile", "results")
    COMPILE_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    compile: ExecuteResult
    results: _containers.RepeatedCompositeFieldContainer[ExecuteResult]
    def __init__(self, compile: _Optional[_Union[ExecuteResult, _Mapping]] = ..., results: _Optional[_Iterable[_Union[ExecuteResult, _Mapping]]] = ...) -> None: ...
