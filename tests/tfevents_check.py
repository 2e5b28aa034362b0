#!/usr/bin/env python3
"""Checks TensorBoard event files written by boxmine, by hand (not part of ctest).

    python3 tests/tfevents_check.py runs/exp1            # a directory or event files

For every *tfevents* file: checks the TFRecord framing and both masked CRC-32Cs of every
record, decodes each Event with a small protocol-buffer reader written here, and checks that
the first event is file_version "brain.Event:2". If Google's protobuf runtime is importable
(Debian: python3-protobuf, use /usr/bin/python3), each record is also parsed by it against
a descriptor built from TensorFlow's event.proto / summary.proto field numbers, and the two
decodings must agree. Prints, per tag, the number of points and the first and last
(step, value). Exit status 0 when everything checks, 1 otherwise.
"""
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value) for one message."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n, pos = varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        yield number, wire, value


def decode_event(data):
    event = {"wall_time": None, "step": 0, "file_version": None, "values": []}
    for number, wire, value in fields(data):
        if number == 1 and wire == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            event["step"] = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 3 and wire == 2:
            event["file_version"] = value.decode("utf-8")
        elif number == 5 and wire == 2:
            for vnum, vwire, summary_value in fields(value):
                if (vnum, vwire) != (1, 2):
                    raise ValueError("Summary field %d" % vnum)
                tag, simple = None, None
                for n, w, v in fields(summary_value):
                    if (n, w) == (1, 2):
                        tag = v.decode("utf-8")
                    elif (n, w) == (2, 5):
                        simple = struct.unpack("<f", v)[0]
                event["values"].append((tag, simple))
        else:
            raise ValueError("unexpected Event field %d (wire %d)" % (number, wire))
    return event


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise ValueError("%s: record header cut at byte %d" % (path, pos))
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if header_crc != masked(crc32c(header)):
            raise ValueError("%s: bad length CRC at byte %d" % (path, pos))
        body = data[pos + 12:pos + 12 + length]
        if len(body) != length or len(data) < pos + 16 + length:
            raise ValueError("%s: record cut at byte %d" % (path, pos))
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if body_crc != masked(crc32c(body)):
            raise ValueError("%s: bad data CRC at byte %d" % (path, pos))
        yield body
        pos += 16 + length


def protobuf_event_class():
    """An Event message class from Google's runtime, or None if it is not installed."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        return None
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="bm_event_check.proto", package="bmcheck",
                                               syntax="proto3")

    def message(name, specs):
        msg = proto.message_type.add(name=name)
        for field_name, number, ftype, label, type_name in specs:
            f = msg.field.add(name=field_name, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("Value", [("tag", 1, F.TYPE_STRING, opt, None),
                      ("simple_value", 2, F.TYPE_FLOAT, opt, None)])
    message("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".bmcheck.Value")])
    message("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None),
                      ("step", 2, F.TYPE_INT64, opt, None),
                      ("file_version", 3, F.TYPE_STRING, opt, None),
                      ("summary", 5, F.TYPE_MESSAGE, opt, ".bmcheck.Summary")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("bmcheck.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def check_file(path, event_class):
    by_tag = {}
    n_records = 0
    for index, body in enumerate(records(path)):
        event = decode_event(body)
        n_records += 1
        if index == 0 and event["file_version"] != "brain.Event:2":
            raise ValueError("%s: first event is not file_version brain.Event:2" % path)
        if event_class is not None:
            official = event_class()
            official.ParseFromString(body)
            theirs = [(v.tag, v.simple_value) for v in official.summary.value]
            wall_time = event["wall_time"] if event["wall_time"] is not None else 0.0
            if (official.step != event["step"] or official.wall_time != wall_time
                    or official.file_version != (event["file_version"] or "")
                    or theirs != event["values"]):
                raise ValueError("%s: record %d decodes differently with protobuf" % (path, index))
        for tag, value in event["values"]:
            by_tag.setdefault(tag, []).append((event["step"], value))
    print("%s: %d records, CRCs ok%s" % (path, n_records,
          ", protobuf agrees" if event_class is not None else ""))
    for tag in sorted(by_tag):
        points = by_tag[tag]
        print("  %-28s %5d points, first (step %d, %.6g), last (step %d, %.6g)"
              % (tag, len(points), points[0][0], points[0][1], points[-1][0], points[-1][1]))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    paths = []
    for arg in argv[1:]:
        if os.path.isdir(arg):
            paths += sorted(os.path.join(arg, n) for n in os.listdir(arg) if "tfevents" in n)
        else:
            paths.append(arg)
    if not paths:
        print("no event files found", file=sys.stderr)
        return 1
    event_class = protobuf_event_class()
    if event_class is None:
        print("(google.protobuf not importable: framing and pure-Python decoding only)")
    status = 0
    for path in paths:
        try:
            check_file(path, event_class)
        except (ValueError, IndexError, struct.error) as error:
            print("FAILED: %s" % error, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
