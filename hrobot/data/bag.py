"""rosbag2 bags in MCAP: write (zstd chunks, crash-safe), read back, recover after a crash.

A bag is a folder: `<name>_0.mcap` plus `metadata.yaml` (rosbag2 version 9, what Jazzy's
`ros2 bag info` / `ros2 bag play` read). Each MCAP channel carries rosbag2's metadata
(offered_qos_profiles, topic_type_hash) and each schema the complete ros2msg definition, so
Foxglove and the `rosbags` library decode it without ROS. Messages are the CDR bytes exactly as
they came off DDS. Chunks are closed by size or every `chunk_interval_s` and written straight
to the file, so a recorder killed at any moment leaves every completed chunk readable:
`recover()` rebuilds the file's index and metadata.yaml from them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from hrobot.data.msgdefs import message_definition, type_hash
from hrobot.errors import HRobotError

METADATA = "metadata.yaml"
BAG_VERSION = 9  # rosbag2's metadata version in Jazzy (QoS profiles as a list of mappings)
_STOP = object()


@dataclass(frozen=True)
class Topic:
    name: str
    type: str  # pkg/msg/Name
    qos: list[dict] = field(default_factory=list)  # offered QoS profiles, rosbag2 v9 layout


@dataclass
class BagInfo:
    """What metadata.yaml says (or what recover() found)."""

    path: Path
    files: list[str]
    topics: dict[str, Topic]
    counts: dict[str, int]
    start_ns: int
    duration_ns: int
    custom: dict[str, str]

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())


class _Direct:
    """An unbuffered file for the MCAP writer: each record it writes reaches the OS at once. (Not an
    io.RawIOBase: the writer would wrap one in a BufferedWriter and hold back the last chunk's tail.)"""

    def __init__(self, path: Path):
        self.fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.pos = 0

    def write(self, b) -> int:
        view = memoryview(b)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
            self.pos += n
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass  # nothing is buffered here

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class SequenceGaps:
    """Messages lost on the way to the recorder, from the publishers' sequence numbers.

    DDS numbers each writer's samples 1, 2, 3, ...; rclpy gives the number but not the writer, so the
    messages of a topic with several publishers are matched to the stream whose last number is the
    largest below theirs (a new stream when none is, up to the publisher count). `lost`: gaps inside
    a stream (dropped on the way); `missed`: a publisher's messages from before the recorder had
    subscribed to it (a topic that appeared while recording), the start-up race `ros2 bag record` has too."""

    def __init__(self):
        self.streams: dict[str, list[int]] = {}
        self.lost: Counter = Counter()
        self.missed: Counter = Counter()
        self.from_one: set[str] = set()  # topics first published while recording: their numbering starts in the bag

    def add(self, topic: str, seq: int | None, publishers: int = 1) -> None:
        if not seq:
            return  # the middleware gives no number
        if topic in self.from_one and topic not in self.streams:
            self.missed[topic] += seq - 1  # published before the recorder had subscribed
        last = self.streams.setdefault(topic, [])
        below = [i for i, s in enumerate(last) if s < seq]
        if below:
            i = max(below, key=lambda k: last[k])
            self.lost[topic] += seq - last[i] - 1
            last[i] = seq
        else:
            last.append(seq)  # a new publisher (or one that restarted)
            if len(last) > max(publishers, 1):
                last.pop(int(np.argmin(last)))

    def total(self) -> int:
        return sum(self.lost.values())


def qos_yaml(profiles: list[dict]) -> str:
    return yaml.safe_dump(profiles, default_flow_style=False, sort_keys=False)


class BagWriter:
    """Writes one rosbag2 MCAP bag from a thread of its own (callers only enqueue)."""

    def __init__(self, folder: str | Path, chunk_size: int = 1 << 20, chunk_interval_s: float = 1.0):
        from mcap.writer import CompressionType, Writer

        self.folder = Path(folder)
        if self.folder.exists():
            raise HRobotError(f"{self.folder}: bag folder exists (choose a new name; a bag is never overwritten)")
        self.folder.mkdir(parents=True)
        self.file = f"{self.folder.name}_0.mcap"
        self.stream = _Direct(self.folder / self.file)
        self.mcap = Writer(self.stream, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self.mcap.start(profile="ros2", library="hrobot")
        self.chunk_interval_s = chunk_interval_s
        self.topics: dict[str, Topic] = {}
        self.channels: dict[str, int] = {}
        self.counts: Counter = Counter()
        self.start_ns: int | None = None
        self.end_ns = 0
        self.bytes_in = 0
        self.custom: dict[str, str] = {}
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self.thread.start()

    def add_topic(self, topic: Topic) -> None:
        """Register a topic (its schema and channel) before its first message."""
        self.queue.put(("topic", topic))

    def write(self, topic: str, data: bytes, log_ns: int, publish_ns: int = 0, sequence: int = 0) -> None:
        self.queue.put((topic, data, log_ns, publish_ns or log_ns, sequence))

    def _register(self, t: Topic) -> None:
        schema = self.mcap.register_schema(t.type, "ros2msg", message_definition(t.type).encode())
        self.channels[t.name] = self.mcap.register_channel(
            t.name, "cdr", schema, {"offered_qos_profiles": qos_yaml(t.qos), "topic_type_hash": type_hash(t.type)})
        self.topics[t.name] = t

    def _run(self) -> None:
        last_flush = time.monotonic()
        try:
            while True:
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    return
                if item is not None and item[0] == "topic":
                    self._register(item[1])
                elif item is not None:
                    name, data, log_ns, publish_ns, seq = item
                    self.mcap.add_message(self.channels[name], log_ns, data, publish_ns, seq & 0xFFFFFFFF)
                    self.counts[name] += 1
                    self.bytes_in += len(data)
                    self.start_ns = log_ns if self.start_ns is None else min(self.start_ns, log_ns)
                    self.end_ns = max(self.end_ns, log_ns)
                if time.monotonic() - last_flush >= self.chunk_interval_s:
                    self.mcap.flush()  # close the chunk: everything up to here survives a crash
                    last_flush = time.monotonic()
        except BaseException as e:  # reported by close(); the recorder checks `error` as it goes
            self.error = e

    def pending(self) -> int:
        return self.queue.qsize()

    def close(self) -> BagInfo:
        """Write the rest, the MCAP summary and metadata.yaml."""
        self.queue.put(_STOP)
        self.thread.join()
        if self.error is not None:
            raise HRobotError(f"{self.folder}: writing the bag failed: {type(self.error).__name__}: {self.error}")
        info = BagInfo(self.folder, [self.file], dict(self.topics), dict(self.counts), self.start_ns or 0,
                       max(self.end_ns - (self.start_ns or 0), 0), self.custom)
        # rosbag2's MCAP storage keeps the bag's metadata in the file too (the record `ros2 bag reindex` restores)
        self.mcap.add_metadata("rosbag2", {"serialized_metadata": yaml.safe_dump(
            metadata(info)["rosbag2_bagfile_information"], default_flow_style=False, sort_keys=False)})
        self.mcap.finish()
        self.stream.close()
        write_metadata(info)
        return info


def metadata(info: BagInfo) -> dict:
    """The bag's metadata in rosbag2's version 9 layout."""
    def t(ns: int) -> dict:
        return {"nanoseconds": ns}

    return {"rosbag2_bagfile_information": {
        "version": BAG_VERSION,
        "storage_identifier": "mcap",
        "duration": t(info.duration_ns),
        "starting_time": {"nanoseconds_since_epoch": info.start_ns},
        "message_count": info.message_count,
        "topics_with_message_count": [
            {"topic_metadata": {"name": tp.name, "type": tp.type, "serialization_format": "cdr",
                                "offered_qos_profiles": tp.qos, "type_description_hash": type_hash(tp.type)},
             "message_count": info.counts.get(tp.name, 0)}
            for tp in info.topics.values()],
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": list(info.files),
        "files": [{"path": f, "starting_time": {"nanoseconds_since_epoch": info.start_ns},
                   "duration": t(info.duration_ns), "message_count": info.message_count} for f in info.files],
        "custom_data": dict(info.custom) or None,
        "ros_distro": "jazzy",
    }}


def write_metadata(info: BagInfo) -> None:
    """metadata.yaml (written to a temporary file, then renamed)."""
    tmp = info.path / (METADATA + ".tmp")
    tmp.write_text(yaml.safe_dump(metadata(info), default_flow_style=False, sort_keys=False))
    tmp.replace(info.path / METADATA)


# ---------------------------------------------------------------- reading


def _bag_folder(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise HRobotError(f"{p}: bag not found")
    if p.is_file():
        p = p.parent
    return p


def read_info(path: str | Path) -> BagInfo:
    """A bag's metadata.yaml, checked against the bag folder (one clear line when it is not a bag)."""
    from hrobot.files import read_yaml

    folder = _bag_folder(path)
    meta_file = folder / METADATA
    if not meta_file.is_file():
        hint = " (a recording that did not finish: `hrobot record --recover` rebuilds it)" if list(folder.glob("*.mcap")) else ""
        raise HRobotError(f"{folder}: not a bag: no {METADATA}{hint}")
    data = read_yaml(meta_file, what="bag metadata")
    try:
        b = data["rosbag2_bagfile_information"]
        topics, counts = {}, {}
        for entry in b["topics_with_message_count"]:
            m = entry["topic_metadata"]
            qos = m.get("offered_qos_profiles") or []
            topics[m["name"]] = Topic(m["name"], m["type"], qos if isinstance(qos, list) else yaml.safe_load(qos) or [])
            counts[m["name"]] = int(entry["message_count"])
        info = BagInfo(folder, list(b["relative_file_paths"]), topics, counts,
                       int(b["starting_time"]["nanoseconds_since_epoch"]), int(b["duration"]["nanoseconds"]),
                       dict(b.get("custom_data") or {}))
    except (KeyError, TypeError, ValueError) as e:
        raise HRobotError(f"{meta_file}: not rosbag2 metadata (missing or bad field {e})") from None
    if b.get("storage_identifier") != "mcap":
        raise HRobotError(f"{meta_file}: storage_identifier: expected mcap, got {b.get('storage_identifier')!r}")
    for f in info.files:
        if not (folder / f).is_file():
            raise HRobotError(f"{folder / f}: bag file listed in {METADATA} is missing")
    return info


@dataclass(frozen=True)
class BagMessage:
    topic: str
    type: str
    log_ns: int
    publish_ns: int
    sequence: int
    data: bytes


def iter_raw(path: str | Path, topics: list[str] | None = None) -> Iterator[BagMessage]:
    """Messages of a bag in log-time order, as CDR bytes."""
    from mcap.exceptions import McapError
    from mcap.reader import make_reader

    info = read_info(path)
    if topics is not None:
        unknown = [t for t in topics if t not in info.topics]
        if unknown:
            raise HRobotError(f"{info.path}: topic {unknown[0]} is not in the bag (it has {', '.join(sorted(info.topics))})")
    for f in info.files:
        try:
            with open(info.path / f, "rb") as fh:
                reader = make_reader(fh)
                for schema, channel, msg in reader.iter_messages(topics=topics, log_time_order=True):
                    yield BagMessage(channel.topic, schema.name, msg.log_time, msg.publish_time, msg.sequence, msg.data)
        except (McapError, EOFError, ValueError) as e:  # mcap raises these for truncated or corrupt files
            raise HRobotError(f"{info.path / f}: truncated or corrupt MCAP ({type(e).__name__}: {e}); "
                              f"`hrobot record --recover {info.path}` keeps its completed chunks") from None


def message_class(msgtype: str):
    """The rclpy message class of pkg/msg/Name."""
    import importlib

    from hrobot.data.msgdefs import split_type

    pkg, name = split_type(msgtype)
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        raise HRobotError(f"message type {msgtype}: its Python package {pkg} is not installed") from None


def iter_messages(path: str | Path, topics: list[str] | None = None) -> Iterator[tuple[BagMessage, object]]:
    """Messages decoded into rclpy message objects (ROS typesupport's own CDR decoder)."""
    from rclpy.serialization import deserialize_message

    classes: dict[str, type] = {}
    for m in iter_raw(path, topics):
        cls = classes.get(m.type) or classes.setdefault(m.type, message_class(m.type))
        yield m, deserialize_message(m.data, cls)


# ---------------------------------------------------------------- crash recovery


@dataclass
class Recovery:
    info: BagInfo
    chunks: int
    tail_bytes_lost: int


def recover(path: str | Path) -> Recovery:
    """Rebuild a bag whose recorder died: keep every message of every complete chunk, rewrite the
    MCAP with its summary, write metadata.yaml. The damaged file is kept beside it (`.damaged`)."""
    from mcap.records import Channel, Chunk, Message, Schema
    from mcap.stream_reader import StreamReader, breakup_chunk
    from mcap.writer import CompressionType, Writer

    folder = _bag_folder(path)
    files = sorted(folder.glob("*.mcap"))
    if not files:
        raise HRobotError(f"{folder}: no .mcap file to recover")
    src = files[0]
    size = src.stat().st_size
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    chunks: list[list] = []
    good_end = 0
    with open(src, "rb") as fh:
        reader = StreamReader(fh, emit_chunks=True, validate_crcs=True)
        try:
            for rec in reader.records:
                if isinstance(rec, Schema):
                    schemas[rec.id] = rec
                elif isinstance(rec, Channel):
                    channels[rec.id] = rec
                elif isinstance(rec, Chunk):
                    inner = breakup_chunk(rec, validate_crc=True)
                    schemas.update({r.id: r for r in inner if isinstance(r, Schema)})
                    channels.update({r.id: r for r in inner if isinstance(r, Channel)})
                    chunks.append([r for r in inner if isinstance(r, Message)])
                good_end = fh.tell()
        except Exception:  # the torn tail: a record cut short by the crash ends the scan
            pass
    if not channels:
        raise HRobotError(f"{src}: no complete chunk or channel in {size} bytes: nothing to recover")
    damaged = src.with_suffix(".mcap.damaged")
    src.replace(damaged)
    topics: dict[str, Topic] = {}
    counts: Counter = Counter()
    start, end = None, 0
    with open(src, "wb") as out:
        w = Writer(out, compression=CompressionType.ZSTD)
        w.start(profile="ros2", library="hrobot (recovered)")
        sid = {i: w.register_schema(s.name, s.encoding, s.data) for i, s in schemas.items()}
        cid = {}
        for i, c in channels.items():
            cid[i] = w.register_channel(c.topic, c.message_encoding, sid[c.schema_id], c.metadata)
            qos = yaml.safe_load(c.metadata.get("offered_qos_profiles", "") or "[]") or []
            topics[c.topic] = Topic(c.topic, schemas[c.schema_id].name, qos)
        for msgs in chunks:
            for m in msgs:
                w.add_message(cid[m.channel_id], m.log_time, m.data, m.publish_time, m.sequence)
                counts[channels[m.channel_id].topic] += 1
                start = m.log_time if start is None else min(start, m.log_time)
                end = max(end, m.log_time)
        w.finish()
    info = BagInfo(folder, [src.name], topics, dict(counts), start or 0, max(end - (start or 0), 0),
                   {"hrobot.recovered_from": damaged.name})
    write_metadata(info)
    return Recovery(info, len(chunks), size - good_end)
