"""Measurement families beyond the core attributes, each with the rules the teacher states from it.

Each module measures one family on a `Scene` (`measure(scene) -> list[Attribute]`, level tables in
`LEVELS`) and brings its `RULES` and `EXCLUSIVE` groups: light, framing, lines, motion, processing,
colour harmony, and the camera settings from EXIF.
"""
