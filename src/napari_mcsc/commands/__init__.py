"""One module per command of the ``napari-mcsc`` command line."""
