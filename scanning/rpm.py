"""RPM package files: the lead, the signature and main headers, and the cpio payload.

Layout (all integers big-endian):

    lead       96 bytes, starting ED AB EE DB
    signature  header structure, padded to a multiple of 8 bytes
    header     header structure
    payload    cpio ("newc") archive compressed with PAYLOADCOMPRESSOR

A header structure is: magic 8E AD E8 01, 4 reserved bytes, the number of index
entries (4), the size of the data store (4), then that many 16-byte entries
(tag, type, offset into the store, count) and the store itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import IO, Any

LEAD_SIZE = 96
HEADER_MAGIC = b"\x8e\xad\xe8\x01"
MAX_INDEX_ENTRIES = 65_536
MAX_STORE_BYTES = 64 * 1024 * 1024

# Types
T_NULL, T_CHAR, T_INT8, T_INT16, T_INT32, T_INT64, T_STRING, T_BIN, T_STRING_ARRAY, T_I18NSTRING = range(10)

# Tags used by Gatehouse
NAME, VERSION, RELEASE, EPOCH, SUMMARY, DESCRIPTION = 1000, 1001, 1002, 1003, 1004, 1005
VENDOR, LICENSE, PACKAGER, URL, OS, ARCH = 1011, 1014, 1015, 1020, 1021, 1022
PREIN, POSTIN, PREUN, POSTUN = 1023, 1024, 1025, 1026
REQUIREFLAGS, REQUIRENAME, REQUIREVERSION = 1048, 1049, 1050
TRIGGERSCRIPTS, TRIGGERNAME, TRIGGERVERSION, TRIGGERFLAGS, TRIGGERINDEX = 1065, 1066, 1067, 1068, 1069
PREINPROG, POSTINPROG, PREUNPROG, POSTUNPROG = 1085, 1086, 1087, 1088
TRIGGERSCRIPTPROG = 1092
PAYLOADFORMAT, PAYLOADCOMPRESSOR = 1124, 1125
PRETRANS, POSTTRANS, PRETRANSPROG, POSTTRANSPROG = 1151, 1152, 1153, 1154

SENSE_LESS, SENSE_GREATER, SENSE_EQUAL = 0x02, 0x04, 0x08

SCRIPTLETS = (
    ("%pre", PREIN, PREINPROG),
    ("%post", POSTIN, POSTINPROG),
    ("%preun", PREUN, PREUNPROG),
    ("%postun", POSTUN, POSTUNPROG),
    ("%pretrans", PRETRANS, PRETRANSPROG),
    ("%posttrans", POSTTRANS, POSTTRANSPROG),
)


class RpmFormatError(Exception):
    pass


@dataclass
class RpmHeader:
    tags: dict[int, Any] = field(default_factory=dict)
    payload_offset: int = 0

    def get(self, tag: int, default: Any = None) -> Any:
        return self.tags.get(tag, default)

    def string(self, tag: int) -> str:
        value = self.tags.get(tag)
        if isinstance(value, list):
            value = value[0] if value else ""
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return "" if value is None else str(value)

    def strings(self, tag: int) -> list[str]:
        value = self.tags.get(tag)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return [v if isinstance(v, str) else str(v) for v in value]

    def ints(self, tag: int) -> list[int]:
        value = self.tags.get(tag)
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [int(value)]

    @property
    def name(self) -> str:
        return self.string(NAME)

    @property
    def version(self) -> str:
        return self.string(VERSION)

    @property
    def release(self) -> str:
        return self.string(RELEASE)

    @property
    def epoch(self) -> int | None:
        values = self.ints(EPOCH)
        return values[0] if values else None

    @property
    def compressor(self) -> str:
        return self.string(PAYLOADCOMPRESSOR) or "gzip"

    def scriptlets(self) -> dict[str, tuple[str, str]]:
        """{"%post": (interpreter, body)} for every scriptlet present (including triggers)."""
        out: dict[str, tuple[str, str]] = {}
        for label, body_tag, prog_tag in SCRIPTLETS:
            body = self.string(body_tag)
            prog = self.strings(prog_tag)
            interpreter = " ".join(prog) if prog else ("/bin/sh" if body else "")
            if body or prog:
                out[label] = (interpreter, body)
        bodies = self.strings(TRIGGERSCRIPTS)
        if bodies:
            names = self.strings(TRIGGERNAME)
            progs = self.strings(TRIGGERSCRIPTPROG)
            index = self.ints(TRIGGERINDEX)
            for i, body in enumerate(bodies):
                targets = sorted({names[j] for j, k in enumerate(index) if k == i and j < len(names)})
                label = f"%trigger {i}" + (f" -- {', '.join(targets)}" if targets else "")
                out[label] = (progs[i] if i < len(progs) else "/bin/sh", body)
        return out

    def requires(self) -> list[tuple[str, int, str]]:
        names = self.strings(REQUIRENAME)
        flags = self.ints(REQUIREFLAGS)
        versions = self.strings(REQUIREVERSION)
        return [(n, flags[i] if i < len(flags) else 0, versions[i] if i < len(versions) else "")
                for i, n in enumerate(names)]


def _read_exact(handle: IO[bytes], size: int, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise RpmFormatError(f"the file ends inside the {what}")
    return data


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _parse_structure(handle: IO[bytes], what: str) -> tuple[dict[int, Any], int]:
    """Parse one header structure; returns (tags, bytes consumed)."""
    intro = _read_exact(handle, 16, what)
    if intro[:4] != HEADER_MAGIC:
        raise RpmFormatError(f"the {what} does not start with the RPM header magic")
    nindex, hsize = struct.unpack(">II", intro[8:16])
    if nindex > MAX_INDEX_ENTRIES or hsize > MAX_STORE_BYTES:
        raise RpmFormatError(f"the {what} declares {nindex} entries and {hsize} bytes, beyond the limits")
    index = _read_exact(handle, 16 * nindex, what)
    store = _read_exact(handle, hsize, what)
    tags: dict[int, Any] = {}
    for i in range(nindex):
        tag, typ, offset, count = struct.unpack(">IIiI", index[16 * i: 16 * i + 16])
        if offset < 0 or offset > hsize:
            raise RpmFormatError(f"entry {tag} of the {what} points outside its data")
        try:
            tags[tag] = _value(store, typ, offset, count)
        except (struct.error, IndexError, ValueError) as exc:
            raise RpmFormatError(f"entry {tag} of the {what} is malformed") from exc
    return tags, 16 + 16 * nindex + hsize


def _value(store: bytes, typ: int, offset: int, count: int) -> Any:
    if count > len(store) + 1:
        raise ValueError("count beyond the data store")
    if typ in (T_STRING,):
        end = store.index(b"\x00", offset)
        return _decode(store[offset:end])
    if typ in (T_STRING_ARRAY, T_I18NSTRING):
        out = []
        pos = offset
        for _ in range(count):
            end = store.index(b"\x00", pos)
            out.append(_decode(store[pos:end]))
            pos = end + 1
        return out if typ == T_STRING_ARRAY else (out[:1] or [""])
    if typ == T_BIN:
        if offset + count > len(store):
            raise ValueError("binary value beyond the data store")
        return store[offset: offset + count]
    sizes = {T_CHAR: ("B", 1), T_INT8: ("B", 1), T_INT16: ("H", 2), T_INT32: ("I", 4), T_INT64: ("Q", 8)}
    if typ in sizes:
        code, width = sizes[typ]
        if offset + width * count > len(store):
            raise ValueError("integer array beyond the data store")
        return list(struct.unpack(f">{count}{code}", store[offset: offset + width * count]))
    return None


def read_header(handle: IO[bytes]) -> RpmHeader:
    """Read the lead and both headers; leaves `handle` at the start of the payload."""
    lead = _read_exact(handle, LEAD_SIZE, "lead")
    if lead[:4] != b"\xed\xab\xee\xdb":
        raise RpmFormatError("the file does not start with the RPM lead magic")
    if lead[4] not in (3, 4):
        raise RpmFormatError(f"unsupported RPM format version {lead[4]}")
    consumed = LEAD_SIZE
    _sig, size = _parse_structure(handle, "signature header")
    consumed += size
    pad = (8 - size % 8) % 8
    if pad:
        _read_exact(handle, pad, "signature header padding")
        consumed += pad
    tags, size = _parse_structure(handle, "main header")
    consumed += size
    return RpmHeader(tags=tags, payload_offset=consumed)


# --- cpio "newc" ---------------------------------------------------------------------

CPIO_NEWC = (b"070701", b"070702")
CPIO_HEADER = 110
CPIO_TRAILER = "TRAILER!!!"


@dataclass
class CpioEntry:
    name: str
    mode: int
    size: int
    ino: int
    nlink: int
    dev: tuple[int, int]


def read_cpio_header(stream: IO[bytes]) -> CpioEntry | None:
    """Next entry header of a newc cpio stream (the name is consumed too); None at the trailer."""
    raw = stream.read(CPIO_HEADER)
    if len(raw) != CPIO_HEADER:
        raise RpmFormatError("the payload ends inside a cpio header")
    if raw[:6] not in CPIO_NEWC:
        raise RpmFormatError("the payload is not a newc cpio archive")
    try:
        fields = [int(raw[6 + 8 * i: 14 + 8 * i], 16) for i in range(13)]
    except ValueError as exc:
        raise RpmFormatError("a cpio header has non-hex fields") from exc
    ino, mode, _uid, _gid, nlink, _mtime, size, devmaj, devmin, _rmaj, _rmin, namesize, _check = fields
    if namesize == 0 or namesize > 65_536:
        raise RpmFormatError("a cpio entry has an invalid name size")
    name_raw = stream.read(namesize)
    if len(name_raw) != namesize:
        raise RpmFormatError("the payload ends inside a cpio file name")
    pad = (4 - (CPIO_HEADER + namesize) % 4) % 4
    if pad and len(stream.read(pad)) != pad:
        raise RpmFormatError("the payload ends inside cpio padding")
    name = name_raw.rstrip(b"\x00").decode("utf-8", errors="surrogateescape")
    if name == CPIO_TRAILER:
        return None
    return CpioEntry(name=name, mode=mode, size=size, ino=ino, nlink=nlink, dev=(devmaj, devmin))


def cpio_data_padding(size: int) -> int:
    return (4 - size % 4) % 4
