# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/charclf-study/charclf/blob/main/notebooks/10_try_it_yourself.ipynb)
#
# # 10 · Try it yourself
#
# **Question:** what does a trained model read in your own image files?
#
# Use a trained model on your own handwriting. `charclf predict` reads PNG, JPEG, BMP or WebP files in any
# colour mode, with dark ink on light paper or the reverse, at any size, and converts each the way EMNIST was
# made from NIST's scans (crop to the ink, pad to a square, blur, resize to 28×28, centre) before the model
# sees it. The draw-a-character demo does the same for a sketchpad in the browser.
#
# ```bash
# charclf predict my_letter.png another.jpg --top 5          # model_hub/default
# charclf predict my_letter.png --model model_hub/small      # or any full-profile run folder
# charclf demo                                               # http://127.0.0.1:7860, this machine only
# ```
#
# Without `--model`, both use `model_hub/default`: the study's best single model under 1M parameters
# (Mini-Vision-V3 trained with nearest resampling, 404,222 parameters; its README card gives its numbers).
# `model_hub/small` (≤ 100k parameters) and `model_hub/tiny` (≤ 30k) are smaller.

# %%
# Colab only: install charclf from GitHub with the extras the notebooks use (Optuna, Lion, Gradio), keeping
# Colab's own torch: the package pins lower bounds only, so pip does not reinstall it.
# REPO_URL is a placeholder for the project's GitHub address — change it if you work from a fork.
REPO_URL = "https://github.com/charclf-study/charclf"
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"charclf[tune,lion,demo] @ git+{REPO_URL}"],
                   check=True)

# %% tags=["parameters"]
import os
PROFILE = "quick"  # "quick": small subsets, minutes | "full": the complete protocol; `charclf study` sets it
# and prints the value it used under this cell
DATA_DIR = os.environ.get("CHARCLF_DATA_DIR")  # folder with emnist/, mnist/, protocols/; None: the repo's data/
PROTOCOL = "holdout"  # "holdout": the offline protocol (the ByClass test file re-split) | "official"
SEED = 0
RETRAIN = False  # True: train again instead of loading cached runs (CHARCLF_RETRAIN=1 in the environment wins)

# %%
from charclf.study import setup
ctx = setup(SEED, profile=PROFILE, data_dir=DATA_DIR, protocol=PROTOCOL, retrain=RETRAIN)

# %% [markdown]
# ## A model
#
# The best run of notebook 04 (chosen on validation accuracy). Any run folder or `model_hub/` folder works:
# `load_model` rebuilds the network, its labels and its input normalisation from `config.json` +
# `model.safetensors` alone.

# %%
import charclf
best = ctx.best_run("04_training")
model = charclf.load_model(best.dir)
print(f"{best.name}: {model.charclf_config['architecture']}, {model.charclf_config['num_classes']} classes, "
      f"orientation {model.charclf_config['orientation']}, trained under the {ctx.tag}; "
      f"val acc {best.record.best_val_acc:.2%}")

# %% [markdown]
# ## Predicting image files
#
# We write a few images to a temporary folder, the way your own files would arrive: characters rendered in a
# font (dark on white, different sizes and colour modes), and test images of the holdout protocol saved as
# large, inverted (dark-on-light) PNGs, as if scanned. One file is deliberately blank: it gets a clear error
# and the other files still run.

# %%
import tempfile
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw, ImageFont
folder = Path(tempfile.mkdtemp(prefix="charclf-try-"))
for i, (char, size, mode) in enumerate([("A", 300, "L"), ("7", 200, "RGB"), ("k", 160, "RGBA"), ("Q", 240, "P")]):
    canvas = Image.new("L", (size, size), 255)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), char, fill=0, anchor="mm",
                                font=ImageFont.load_default(size=int(size * 0.7)))
    canvas.convert(mode).save(folder / f"font_{char}.png")
data = ctx.load_data("byclass")
for i in range(6):
    scan = Image.fromarray(255 - data.test.images[i].numpy()).resize((140, 140), Image.BILINEAR)
    scan.save(folder / f"test_{i}_{data.classes[int(data.test.labels[i])]}.png")
Image.new("L", (100, 100), 255).save(folder / "blank.png")
files = sorted(folder.iterdir())
print(len(files), "files:", ", ".join(f.name for f in files))

# %%
import pandas as pd
from charclf.apps.predict import predict_files
entries = predict_files(files, model, top=3)
ctx.show(pd.DataFrame([{"file": Path(e["file"]).name, "ok": e["ok"],
                        "top 3": "  ".join(f"{c} {p:.2f}" for c, p in e["top"]),
                        "error": (e["error"] or "").replace(f"{folder}/", "")[:110]} for e in entries]),
         f"charclf.apps.predict.predict_files with {best.name}")

# %% [markdown]
# ## What the model sees
#
# Each file after the EMNIST-style conversion, with the top prediction above (green when right) and the
# character the file holds below.

# %%
from charclf.eval import figures as viz
from charclf.apps.predict import preprocess_image
good = [e for e in entries if e["ok"]]
seen = np.stack([preprocess_image(e["file"]) for e in good])
classes = tuple(model.charclf_config["labels"])
truth = [classes.index(Path(e["file"]).stem.split("_")[-1]) for e in good]  # the character in each file name
pred = [classes.index(e["top"][0][0]) for e in good]
ctx.save(viz.prediction_grid(seen, truth, pred, classes, ncols=5,
                             title=f"Image files as the model sees them ({best.name})", subtitle=ctx.tag),
         "10_predictions")

# %% [markdown]
# Rendered fonts are not handwriting — EMNIST models have never seen a font's uniform strokes — so they are a
# harder test than they look, and even a model that reads handwriting well can misread some of them (count
# them in the grid above). Use a full-profile model (or `model_hub/default`) for real use.
#
# ## The draw-a-character demo
#
# `charclf demo` starts a Gradio app with a sketchpad: the top-5 characters update as you draw, next to the
# 28×28 image the model sees. It binds `127.0.0.1` (this machine only) and never makes a public share link
# unless you pass `--share`; on Colab, `charclf.apps.demo.launch(..., share=False)` shows it inline. Here we only
# build it — a notebook executed by `charclf study` must not start a server that blocks.

# %%
from charclf.apps.demo import build_demo, predict_sketch
demo = build_demo(model)
print(type(demo).__module__ + "." + type(demo).__name__, "built; launch it with demo.launch() or `charclf demo`")

# %% [markdown]
# The function behind the sketchpad can be called directly, e.g. with one of the files above as a drawing:

# %%
drawing = np.asarray(Image.open(folder / "font_A.png").convert("RGBA"))
print("predict_sketch on a drawn 'A':", {c: round(p, 3) for c, p in predict_sketch(model, drawing, top=5).items()})

# %% [markdown]
# ## What we found
#
# Computed from the predictions above:

# %%
from charclf.study.findings import predictions_found, print_found
print_found(predictions_found(best.name, entries, truth, pred))
