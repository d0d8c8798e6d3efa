"""Motion-capture markers <-> sensor_msgs/PointCloud2, as on interfaces.MOCAP_MARKERS.

One point per LED: x, y, z (float32, PhaseSpace millimetres, Y up), id (uint32), cond (float32, <= 0 means
not seen in this frame), little endian, height 1. The decoder accepts any field order and padding a
publisher chooses, and raises ValueError naming what is wrong with a cloud it cannot read.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from dactyl_core.interfaces import MOCAP_FRAME
from dactyl_core.mocap import MarkerFrame

#: name -> (PointField datatype, numpy dtype)
MARKER_FIELDS = {
    "x": (PointField.FLOAT32, "<f4"),
    "y": (PointField.FLOAT32, "<f4"),
    "z": (PointField.FLOAT32, "<f4"),
    "id": (PointField.UINT32, "<u4"),
    "cond": (PointField.FLOAT32, "<f4"),
}
POINT_STEP = 4 * len(MARKER_FIELDS)


def markers_to_cloud(frame: MarkerFrame, stamp: Time, frame_id: str = MOCAP_FRAME) -> PointCloud2:
    """A marker frame as a PointCloud2 stamped with the measurement time."""
    count = len(frame.ids)
    points = np.zeros(count, dtype=[(name, dtype) for name, (_, dtype) in MARKER_FIELDS.items()])
    points["x"], points["y"], points["z"] = frame.positions_mm.T
    points["id"] = frame.ids
    points["cond"] = frame.cond
    fields = [PointField(name=name, offset=4 * k, datatype=datatype, count=1)
              for k, (name, (datatype, _)) in enumerate(MARKER_FIELDS.items())]
    return PointCloud2(header=Header(stamp=stamp, frame_id=frame_id), height=1, width=count, fields=fields,
                       is_bigendian=False, point_step=POINT_STEP, row_step=POINT_STEP * count,
                       data=points.tobytes(), is_dense=bool(np.isfinite(frame.positions_mm).all()))


def cloud_to_markers(cloud: PointCloud2) -> MarkerFrame:
    """Decode a marker cloud; ValueError with the reason for anything malformed."""
    if cloud.is_bigendian:
        raise ValueError("marker cloud is big endian; expected little endian")
    fields = {f.name: f for f in cloud.fields}
    missing = [name for name in MARKER_FIELDS if name not in fields]
    if missing:
        raise ValueError(f"marker cloud lacks field(s) {missing}; expected {list(MARKER_FIELDS)} "
                         f"(got {[f.name for f in cloud.fields]})")
    for name, (datatype, _) in MARKER_FIELDS.items():
        field = fields[name]
        if field.datatype != datatype or field.count != 1:
            raise ValueError(f"marker cloud field {name!r} has datatype {field.datatype} x{field.count}; "
                             f"expected datatype {datatype} x1")
        if field.offset + 4 > cloud.point_step:
            raise ValueError(f"marker cloud field {name!r} at offset {field.offset} lies outside point_step {cloud.point_step}")
    count = cloud.width * cloud.height
    if cloud.row_step != cloud.point_step * cloud.width:
        raise ValueError(f"marker cloud row_step {cloud.row_step} != point_step {cloud.point_step} x width {cloud.width}")
    if len(cloud.data) != cloud.row_step * cloud.height:
        raise ValueError(f"marker cloud carries {len(cloud.data)} bytes; header says {cloud.row_step * cloud.height}")
    dtype = np.dtype({"names": list(MARKER_FIELDS), "formats": [d for _, d in MARKER_FIELDS.values()],
                      "offsets": [fields[n].offset for n in MARKER_FIELDS], "itemsize": cloud.point_step})
    points = np.frombuffer(bytes(cloud.data), dtype=dtype, count=count)
    positions = np.stack([points["x"], points["y"], points["z"]], axis=-1).astype(np.float64)
    return MarkerFrame(points["id"].astype(np.uint32), positions, points["cond"].astype(np.float64))
