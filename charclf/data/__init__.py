"""EMNIST / MNIST data: official-format readers, protocols, class merging, download and verification."""
from charclf.data.dataset import CharDataset, DataBundle, stratified_indices, stratified_subset

__all__ = ["CharDataset", "DataBundle", "stratified_indices", "stratified_subset"]
