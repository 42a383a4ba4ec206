"""Every control's tooltip, in one place."""

TOOLTIPS = {
    "layers": "Images to train on. For each, choose its Labels layer with a few painted slices "
    "(role 'Train'), or use it as unlabelled data only (role 'Unlabelled', for the "
    "semi-supervised methods).",
    "role": "Train: use the painted slices of its Labels layer (and, with a semi-supervised "
    "method, the rest as unlabelled data). Unlabelled: every slice is unlabelled data (used by "
    "the mcsc and ct methods only). Ignore: not used.",
    "labels": "The Labels layer holding this image's annotations (same shape as the image).",
    "axis": "Slices are taken along this axis (0 = the first axis of the array, usually z).",
    "profile": "Fast: small networks and a short schedule, for interactive use on a CPU; its "
    "method is sup. Paper: the settings of the MCSC paper (method mcsc, 224 px, 40 000 "
    "iterations: for a GPU).",
    "seconds": "Optional cap: stop after this many seconds even if the run is not complete "
    "(you are warned: the model may be much worse). 0 = no cap.",
    "consistent": "Use the painted slices in 3D: they are carried to the other slices by "
    "registering each slice to its neighbour and mixed into the prediction; each predicted "
    "structure is kept as one 3D piece without holes (stray islands away from it are "
    "removed unless they touch what you painted). Painted voxels never change.",
    "iterations": "Run length in iterations (0 = the profile's number, which its quality needs). "
    "A slow or busy machine runs the same iterations, later.",
    "add_unlabelled": "Open other scans of the study (several files at once) as unlabelled "
    "data: semi-supervised training (Method mcsc or ct) learns from their slices without any "
    "painting.",
    "batch": "Slices per training step (with a semi-supervised method about 2/3 painted, the "
    "rest unlabelled). Lower it when the device runs out of memory.",
    "run_length": "Planned iterations, and how long they took on this machine last time.",
    "device": "Where to train: auto picks CUDA, then Apple MPS, then the CPU.",
    "pretrained": "Optional ImageNet-pretrained Swin Transformer weights file (.pth, .safetensors) "
    "for the Transformer branch (the paper's set-up), or 'imagenet' to download timm's Swin-T "
    "weights once (needs internet; kept in the Hugging Face cache). Optional.",
    "method": "sup (the Fast profile's default, which MCSC did not beat at this run length on 20 "
    "ACDC volumes) trains the CNN on the painted slices only; choose mcsc (the Paper profile's, "
    "the full semi-supervised method) to follow the paper's protocol or try it on your data; "
    "in our tests other unpainted scans did not make it beat sup. ct: cross teaching only.",
    "cnn_lr": "Initial learning rate of the CNN (AdamW, polynomial decay).",
    "swin_lr": "Initial learning rate of the Swin-UNet (AdamW, warm-up then polynomial decay).",
    "contrastive_weight": "Weight of the multi-scale cross contrastive loss in each network's loss.",
    "temperature": "Temperature of the contrastive loss (smaller: sharper).",
    "max_sets": "At most this many pixel sets per scale and iteration: the memory cap of the "
    "contrastive loss. Lower it if you run out of memory.",
    "max_pixels": "At most this many pixels per contrastive set (memory grows with its square).",
    "train": "Train with the chosen Method (Advanced): sup trains the CNN on the painted slices; "
    "mcsc and ct train the CNN and the Transformer on the painted slices and all the other "
    "slices. Pressing it again fine-tunes the current model on all annotations so far.",
    "stop": "Stop after the current iteration; the model trained so far is kept and used.",
    "next": "Move to the slice most likely wrong that is not painted or reviewed yet: where the "
    "model's labels differ most from the painted slices carried there, or, with nothing painted, "
    "the most uncertain one.",
    "accept": "Copy the prediction of the slice in view into the annotation layer, "
    "to be corrected with napari's brush.",
    "reviewed": "Count the slice in view as annotated even if it is all background.",
    "save": "Save the current model (both networks, classes, settings) to a file.",
    "load": "Load a model saved earlier; Train then fine-tunes it, Predict uses it.",
    "predict": "Predict the chosen image with the current model (labels and uncertainty layers).",
    "predict_image": "The image layer to predict with the current model.",
    "study_new": "Start a study: choose a folder of scans (NIfTI, MHA, NRRD or DICOM series "
    "folders). The study's session (painted slices, predictions, the model) is kept in a "
    "'napari-mcsc-study' folder beside them and saved after every change.",
    "study_open": "Reopen a study folder where it stopped.",
    "study_layers": "Start a study over the 3D images open in napari (with what is painted in a "
    "Labels layer of each one's shape), kept in a folder you choose.",
    "study_round": "Train one round on every slice painted in any scan of the study: the first "
    "round trains from scratch, each later one continues the same model and schedule. "
    "Then the scan in view and the next one are predicted.",
    "study_round_length": "Iterations of every round after the first. Shorter rounds wait less "
    "and learn less from each painted slice: on studies of 8-12 scans, rounds of 120 took 43 "
    "painted slices where rounds of 200 took 28 (docs/benchmarks.md, sections 26 and 49). "
    "Train round says how long a round takes here before it starts.",
    "study_next_slice": "Go to the slice most likely wrong and not painted yet, in any scan of the "
    "study (where a scan has painted slices: where the model differs most from them carried there).",
    "study_next_scan": "Save this scan's painting and open the next scan (already predicted when "
    "a round has run since).",
    "study_accept": "This scan's mask is right: write it (painted slices over the prediction) in "
    "the scan's geometry to the study's masks folder, and open the next scan.",
}
