"""EMNIST / MNIST data: official-format readers, protocols, class merging, download and verification."""
from charclf.data.dataset import CharDataset, DataBundle, stratified_indices, stratified_subset
from charclf.data.download import download_emnist, download_mnist, ensure_data, verify_archive
from charclf.data.idx import read_idx, write_idx
from charclf.data.merge import MERGED_LETTERS, byclass_to_bymerge_index, merge_classes
from charclf.data.official import (CLASSIC_MNIST, NIST_URL, NIST_ZIP_MD5, OFFICIAL_MAPPINGS, OFFICIAL_SHA256, SPLITS,
                                   load_mapping, load_mnist, load_official, official_file, resolve_data_dir)
from charclf.data.protocols import PROTOCOLS, holdout_file, load_data, load_holdout_indices, make_holdout_split
from charclf.data.verify import check_sha256, runnable_protocols, verify_data_dir

__all__ = [
    "CharDataset", "DataBundle", "stratified_indices", "stratified_subset",
    "SPLITS", "CLASSIC_MNIST", "PROTOCOLS", "MERGED_LETTERS", "NIST_URL", "NIST_ZIP_MD5", "OFFICIAL_SHA256",
    "OFFICIAL_MAPPINGS",
    "resolve_data_dir", "read_idx", "write_idx", "load_mapping", "load_official", "load_mnist", "official_file",
    "load_data", "holdout_file", "load_holdout_indices", "make_holdout_split",
    "merge_classes", "byclass_to_bymerge_index",
    "download_emnist", "download_mnist", "ensure_data", "verify_archive", "verify_data_dir", "runnable_protocols",
    "check_sha256",
]
