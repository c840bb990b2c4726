from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_OK: _ClassVar[Status]
    STATUS_WRONG: _ClassVar[Status]
    STATUS_TIMEOUT: _ClassVar[Status]
    STATUS_INVALID: _ClassVar[Status]
    STATUS_ERROR: _ClassVar[Status]
STATUS_UNSPECIFIED: Status
STATUS_OK: Status
STATUS_WRONG: Status
STATUS_TIMEOUT: Status
STATUS_INVALID: Status
STATUS_ERROR: Status

class Message(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("id", "verifier", "prompt_text", "prompt_messages", "reference_json", "response")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEXT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    id: str
    verifier: str
    prompt_text: str
    prompt_messages: _containers.RepeatedCompositeFieldContainer[Message]
    reference_json: str
    response: str
    def __init__(self, id: _Optional[str] = ..., verifier: _Optional[str] = ..., prompt_text: _Optional[str] = ..., prompt_messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., reference_json: _Optional[str] = ..., response: _Optional[str] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("id", "reward", "status", "detail", "components")
    class ComponentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    reward: float
    status: Status
    detail: str
    components: _containers.ScalarMap[str, float]
    def __init__(self, id: _Optional[str] = ..., reward: _Optional[float] = ..., status: _Optional[_Union[Status, str]] = ..., detail: _Optional[str] = ..., components: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("samples",)
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("scores",)
    SCORES_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[Score]
    def __init__(self, scores: _Optional[_Iterable[_Union[Score, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifierInfo(_message.Message):
    __slots__ = ("name", "version", "reference_schema_json", "max_batch_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    reference_schema_json: str
    max_batch_size: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., reference_schema_json: _Optional[str] = ..., max_batch_size: _Optional[int] = ...) -> None: ...
