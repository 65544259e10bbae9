"""File formats. The only modules of mrspipe that open files."""

from .nifti_mrs import load_mrs, save_mrs

__all__ = ["load_mrs", "save_mrs"]
