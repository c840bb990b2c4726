"""The committed gRPC/protobuf modules are exactly what proto/generate.py produces."""

from tests.conftest import ROOT, load_script


def load_generator():
    return load_script("proto/generate.py", "proto_generate")


def test_generated_code_is_up_to_date(tmp_path):
    generated = load_generator().generate(tmp_path)
    assert {p.name for p in generated} >= {"verifier_pb2.py", "verifier_pb2_grpc.py", "sandbox_pb2.py", "sandbox_pb2_grpc.py"}
    committed = sorted((ROOT / "contract" / "v1").glob("*_pb2*.py*"))
    assert [p.name for p in committed] == [p.name for p in generated], "generated file set differs: run `python proto/generate.py`"
    for new, old in zip(generated, committed):
        assert new.read_text() == old.read_text(), f"{old} is stale: run `python proto/generate.py` and commit"


def test_status_values_match_the_design():
    from contract.v1 import verifier_pb2 as pb

    assert [pb.Status.Name(v) for v in pb.Status.values()] == ["STATUS_UNSPECIFIED", "STATUS_OK", "STATUS_WRONG", "STATUS_TIMEOUT", "STATUS_INVALID", "STATUS_ERROR"]
