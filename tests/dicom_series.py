"""A tiny CT series written slice by slice with pydicom, for the DICOM SEG tests.

A plain module rather than a fixture, so that a test's subprocess can import it too. The
files carry what a real scanner's would and a SEG must reference: patient, study, series
and frame-of-reference UIDs, one SOP instance UID per slice, ImagePositionPatient,
ImageOrientationPatient, PixelSpacing and SliceThickness.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_mcsc.io import Geometry

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def write_ct_series(folder: Path, array: np.ndarray, geometry: Geometry, *, seed: int = 0) -> dict[str, str]:
    """Write an int16 ``(z, y, x)`` array as one CT file per slice in ``folder``, placed by
    ``geometry`` (direction cosines included). Returns the study, series and frame-of-reference UIDs."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    prefix = "1.2.826.0.1.3680043.8.498."
    uids = {
        "study": generate_uid(prefix, entropy_srcs=[f"study{seed}"]),
        "series": generate_uid(prefix, entropy_srcs=[f"series{seed}"]),
        "frame": generate_uid(prefix, entropy_srcs=[f"frame{seed}"]),
    }
    folder.mkdir(parents=True, exist_ok=True)
    axes = geometry.direction_matrix
    origin = np.asarray(geometry.origin, dtype=float)
    dx, dy, dz = geometry.spacing
    for k, plane in enumerate(np.asarray(array, dtype=np.int16)):
        sop_uid = generate_uid(prefix, entropy_srcs=[f"slice{seed}-{k}"])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, sop_uid
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Phantom^Tiny", "TINY01", "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = uids["frame"], ""
        ds.StudyID, ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "1", "20240101", "120000", ""
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "CT", "tests", 3, k + 1
        ds.SeriesDescription = "tiny CT"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [float(v) for v in origin + k * dz * axes[:, 2]]
        ds.ImageOrientationPatient = [float(v) for v in (*axes[:, 0], *axes[:, 1])]
        ds.PixelSpacing = [float(dy), float(dx)]  # row spacing (between rows), then column spacing
        ds.SliceThickness = float(dz)
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.PixelData = plane.tobytes()
        ds.save_as(folder / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    return uids
