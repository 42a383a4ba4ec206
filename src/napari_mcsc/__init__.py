"""napari-mcsc: 3D segmentation from a few painted slices (a CNN trained on them, or MCSC).

The package is split in a Qt-free core (``io``, ``data``, ``networks``, ``losses``,
``training``, ``inference``, ``metrics``, ``checkpoint``, ``cli``) and a thin napari
layer (``_qt``, ``_reader``, ``_writer``, ``_sample_data``). Importing the package is
cheap: it imports neither torch nor Qt.
"""

from napari_mcsc._torch_env import keep_torch_from_importing_triton

__version__ = "0.1.0"

# Must run before torch creates its first optimizer (see the module's docstring).
keep_torch_from_importing_triton()

__all__ = ["__version__"]
