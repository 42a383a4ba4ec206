"""``python -m napari_mcsc`` runs the command line, like ``napari-mcsc``."""

from napari_mcsc.cli import main

raise SystemExit(main())
