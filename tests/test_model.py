"""model.py: a model knows how to predict, not how it was trained."""

import subprocess
import sys
from pathlib import Path

from napari_mcsc.model import ModelSettings
from napari_mcsc.networks.config import NetworkConfig


def test_loading_and_predicting_with_a_model_needs_nothing_from_training():
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from napari_mcsc.checkpoint import load_model\n"
        "from napari_mcsc.inference import predict_volume\n"
        "model = load_model(Path(sys.argv[1]))\n"
        "predict_volume(model, np.zeros((2, 40, 40), np.float32))\n"
        "print([m for m in sys.modules if m.startswith('napari_mcsc.training')])\n"
    )
    model_file = str(Path(__file__).parent / "data" / "model_0.1.0.pt")
    done = subprocess.run([sys.executable, "-c", code, model_file], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_settings_read_back_from_their_dict_and_from_a_whole_training_configuration():
    settings = ModelSettings(NetworkConfig(swin_embed_dim=48), image_size=96, image_interpolation="nearest")
    assert ModelSettings.from_dict(settings.to_dict()) == settings
    older = {**settings.to_dict(), "method": "mcsc", "cnn_lr": 0.01, "iterations": 400}  # format 1
    assert ModelSettings.from_dict(older) == settings
