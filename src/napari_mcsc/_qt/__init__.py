"""The napari dock widget and its Qt helpers; the only part of the package that uses Qt."""
