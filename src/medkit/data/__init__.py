"""Dataset registry, data-directory resolution, checked readers and splits."""

from medkit.data.registry import DATASETS, Dataset, DatasetInfo, dataset_info, load_dataset, register_dataset

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "dataset_info", "load_dataset", "register_dataset"]
