"""Parse a serialized ``RunOperation`` without building the snapshots of an ``update_batch``.

The local transport and the server's ``/ingest`` receive the operation as bytes. Parsing it into
a neptune-api message builds every snapshot, and the store then serializes ``update_batch`` again
to decode it in bulk (``_decode``): two passes over the largest part of the message that do
nothing. An *envelope* view of the same wire format declares the ``operation`` oneof's members as
``bytes``, so the batch arrives as the serialized ``UpdateRunSnapshots`` it is. Anything but an
``update_batch`` is parsed as a real ``RunOperation``, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2

__all__ = ["RawBatchOperation", "check_batch", "parse_operation"]


@dataclass(frozen=True, slots=True)
class RawBatchOperation:
    """A ``RunOperation`` carrying ``update_batch``, the batch still serialized.

    ``update_batch`` is validated when the store decodes it: malformed bytes raise
    ``google.protobuf.message.DecodeError`` from ``Store.apply`` (nothing of the call is stored).
    """

    project: str
    run_id: str
    update_batch: bytes
    create_missing_project: bool | None = None  # the envelope's optional field; None = unset


def _envelope_class() -> type[Message]:
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="despina/store/_operation_view.proto",
        package="despina.store.operation",
        syntax="proto3",
    )
    msg = proto.message_type.add(name="Envelope")
    msg.oneof_decl.add(name="operation")
    # Field numbers of neptune.ingest.v1.RunOperation; api_key, not named here, is kept as an
    # unknown field and not used.
    for name, number in (("project", 1), ("run_id", 2)):
        msg.field.add(name=name, number=number, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    for name, number in (("create", 6), ("update", 7), ("update_batch", 8)):
        msg.field.add(
            name=name, number=number, type=f.TYPE_BYTES, label=f.LABEL_OPTIONAL, oneof_index=0
        )
    # ``optional bool create_missing_project = 3``: proto3 presence is a synthetic oneof
    # (declared after the real ones), so the server can tell "unset" from "false".
    msg.oneof_decl.add(name="_create_missing_project")
    msg.field.add(
        name="create_missing_project",
        number=3,
        type=f.TYPE_BOOL,
        label=f.LABEL_OPTIONAL,
        oneof_index=1,
        proto3_optional=True,
    )
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(proto.name)
    except KeyError:
        pool.Add(proto)
    cls: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("despina.store.operation.Envelope")
    )
    return cls


_Envelope = _envelope_class()


def parse_operation(raw: bytes) -> ingest_pb2.RunOperation | RawBatchOperation:
    """The operation in ``raw``; raises ``DecodeError`` for bytes that are not a RunOperation."""
    envelope = _Envelope.FromString(raw)
    if envelope.WhichOneof("operation") != "update_batch":
        message = ingest_pb2.RunOperation()
        message.ParseFromString(raw)
        return message
    create_missing = (
        envelope.create_missing_project if envelope.HasField("create_missing_project") else None
    )
    return RawBatchOperation(
        envelope.project, envelope.run_id, envelope.update_batch, create_missing
    )


def check_batch(operation: ingest_pb2.RunOperation | RawBatchOperation) -> None:
    """Raise ``DecodeError`` if ``operation`` carries a still serialized batch that is malformed.

    For an operation refused before its batch is decoded (unknown run or project): a malformed
    batch is then reported as such, as it would have been had the operation been parsed whole.
    """
    if isinstance(operation, RawBatchOperation):
        common_pb2.UpdateRunSnapshots.FromString(operation.update_batch)
