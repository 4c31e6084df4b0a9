"""The page model: binary images of any size (scanned or rendered pages, line art, digit sets).

A page is coded as a DARN over patches: binary latents say which patches copy an earlier patch (a
repeated glyph) and which one, coded with bits-back; the pixels that no copy explains are coded one
wavefront at a time with adaptive context counts. See docs/format-pages.md.
"""
