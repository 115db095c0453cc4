"""The proto contract: the committed stubs are fresh; the inference API matches the published protocol, and
the model configuration is a part of Triton's, field numbers and enums included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service._proto import inference_v2_pb2

ROOT = Path(__file__).resolve().parents[2]

# Dumps (message -> field -> (number, type, repeated, message or enum type, oneof)) for the messages of a
# module, (enum -> value -> number) for its enums, and its GRPCInferenceService's methods if it has one.
_DUMP = """
import json, sys, importlib
mod = importlib.import_module(sys.argv[1])
out = {}
def enum(e):
    out[e.full_name] = {v.name: v.number for v in e.values}
def walk(d):
    out[d.full_name] = {
        f.name: [
            f.number, f.type, f.is_repeated,
            (f.message_type or f.enum_type).full_name if (f.message_type or f.enum_type) else None,
            f.containing_oneof.name if f.containing_oneof else None,
        ]
        for f in d.fields
    }
    for n in d.nested_types:
        walk(n)
    for e in d.enum_types:
        enum(e)
for d in mod.DESCRIPTOR.message_types_by_name.values():
    walk(d)
for e in mod.DESCRIPTOR.enum_types_by_name.values():
    enum(e)
svc = mod.DESCRIPTOR.services_by_name.get("GRPCInferenceService")
if svc is not None:
    out["__methods__"] = {
        m.name: [m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming]
        for m in svc.methods
    }
print(json.dumps(out))
"""


def _dump(module: str) -> dict[str, dict[str, object]]:
    # Each in its own process: both modules define the same `inference.*` symbols, which one descriptor pool
    # refuses to hold twice.
    out = subprocess.run(
        [sys.executable, "-c", _DUMP, module], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_committed_stubs_equal_freshly_generated(tmp_path: Path) -> None:
    out = tmp_path / "stubs"
    subprocess.run(
        [sys.executable, "scripts/gen_proto.py", "--out", str(out)], cwd=ROOT, check=True, capture_output=True
    )
    committed = ROOT / "service" / "_proto"
    fresh_files = sorted(p.name for p in out.iterdir())
    committed_files = sorted(p.name for p in committed.iterdir() if p.is_file())
    assert fresh_files == committed_files
    stale = [name for name in fresh_files if (out / name).read_bytes() != (committed / name).read_bytes()]
    assert stale == [], "run `python scripts/gen_proto.py` and commit service/_proto/"


def test_stub_imports_are_package_relative() -> None:
    for path in (ROOT / "service" / "_proto").glob("*.py"):
        assert "from focalserve import" not in path.read_text(), path.name


def test_descriptor_names_are_distinct_from_client_copies() -> None:
    assert inference_v2_pb2.DESCRIPTOR.name == "focalserve/inference_v2.proto"
    assert inference_v2_pb2.DESCRIPTOR.package == "inference"


def test_inference_messages_match_the_published_protocol_field_for_field() -> None:
    ours = _dump("service._proto.inference_v2_pb2")
    published = _dump("tritonclient.grpc.service_pb2")  # tritonclient's copy of the protocol
    assert len(ours) > 20
    for message, fields in ours.items():
        if message == "__methods__":
            for method, types in fields.items():
                assert published["__methods__"][method] == types, method
            continue
        assert message in published, message
        assert fields == published[message], message


def test_the_model_configuration_is_a_part_of_tritons_with_its_numbers() -> None:
    ours = _dump("service._proto.model_config_pb2")
    published = _dump("tritonclient.grpc.model_config_pb2")
    assert {"inference.ModelConfig", "inference.ModelInput", "inference.DataType"} <= set(ours)
    for name, members in ours.items():
        assert name in published, name
        if all(isinstance(number, int) for number in members.values()):  # an enum (or empty message): whole
            assert members == published[name], name
            continue
        for field, description in members.items():  # messages: each field as Triton has it
            assert published[name].get(field) == description, f"{name}.{field}"
