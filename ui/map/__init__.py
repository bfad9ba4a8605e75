"""The Latent map: its session state, its frame, two renderers and the panel that shows one of them.

Imports go one way, down this list; a module never imports one listed below it (tests/test_import_graph.py):
  frame.py       cached arrays (codes on the view plane, slider ranges, the manifold grid), bounds, axes, and the
                 click-snap and tiny-ellipse tolerances in one unit (CSS px of the map)
  state.py       session keys (and which of them one checkpoint owns), View, Pin, and the map's URL parameters
  plotly_map.py  the server-drawn map
  canvas_map.py  the in-browser canvas: what it is sent and what it sends back (protocol: ui/components/latent_canvas.js)
  panel.py       the view widgets, the decoder sliders and the fragment that shows map and details together
  tabs.py        the tabs below the map: traversals, interpolation, prior samples, export, GIFs
"""
