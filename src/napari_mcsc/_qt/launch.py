"""``napari-mcsc demo --gui``: napari with the phantom loaded and the widget docked."""

from __future__ import annotations


def open_demo_viewer(run: bool = True):
    """Open napari with the sample data and the dock widget; block until it closes."""
    import napari

    from napari_mcsc._qt.widget import MCSCWidget
    from napari_mcsc._sample_data import make_sample_layers

    viewer = napari.Viewer(title="napari-mcsc demo")
    for data, kwargs, kind in make_sample_layers():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widget = MCSCWidget(viewer)
    viewer.window.add_dock_widget(widget, name="MCSC: segment from painted slices", area="right")
    viewer.dims.set_current_step(0, 3)
    if run:
        napari.run()
        return 0
    return viewer, widget
