"""CharDataset is a map-style torch dataset: a DataLoader batches it as it would torchvision's MNIST."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from charclf.data import CharDataset
from charclf.eval.inference import predict_logits


def _part(n: int = 10) -> CharDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    return CharDataset(images, torch.arange(n) % 3, ("a", "b", "c"), "synthetic", "test", "holdout")


def test_items_are_float_images_in_0_1_and_int_labels():
    ds = _part()
    image, label = ds[3]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and label == 0 and isinstance(label, int)
    assert torch.equal(image[0], ds.images[3].float() / 255) and 0 <= image.min() <= image.max() <= 1
    assert ds.images.dtype == torch.uint8  # reading an item does not touch the stored part


def test_a_dataloader_batches_every_item_once_in_order():
    ds = _part(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    assert x.shape == (10, 1, 28, 28) and torch.equal(y, ds.labels)
    assert torch.equal((x * 255).round().to(torch.uint8)[:, 0], ds.images)
    # Batches from the loader give charclf's predictions (0..1 floats are understood as such).
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 3))
    torch.testing.assert_close(predict_logits(model, x, mean=0.2, std=0.3),
                               predict_logits(model, ds.images, mean=0.2, std=0.3))
    shuffled = torch.cat([y for _, y in DataLoader(ds, batch_size=3, shuffle=True,
                                                   generator=torch.Generator().manual_seed(1))])
    assert sorted(shuffled.tolist()) == sorted(ds.labels.tolist())
