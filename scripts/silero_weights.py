"""Copies the 16 kHz Silero VAD weights out of the silero-vad wheel into the safetensors file
that ser-audio embeds (crates/audio/assets/silero_vad_v6_16k.safetensors).

    python -m venv venv && venv/bin/pip install onnx numpy
    venv/bin/pip download silero-vad==6.2.3 --no-deps -d wheel
    venv/bin/python scripts/silero_weights.py wheel/silero_vad-6.2.3-py3-none-any.whl \
        crates/audio/assets/silero_vad_v6_16k.safetensors

The weights are those of silero_vad_op18_ifless.onnx (MIT, Silero Team); the names are the
ones ser-audio reads (the layer names of the package's tinygrad model).
"""

import io
import json
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper

NAMES = {
    "stft_conv.weight": "model.stft.forward_basis_buffer",
    "conv1.weight": "model.encoder.0.reparam_conv.weight",
    "conv1.bias": "model.encoder.0.reparam_conv.bias",
    "conv2.weight": "model.encoder.1.reparam_conv.weight",
    "conv2.bias": "model.encoder.1.reparam_conv.bias",
    "conv3.weight": "model.encoder.2.reparam_conv.weight",
    "conv3.bias": "model.encoder.2.reparam_conv.bias",
    "conv4.weight": "model.encoder.3.reparam_conv.weight",
    "conv4.bias": "model.encoder.3.reparam_conv.bias",
    "lstm_cell.weight_ih": "model.decoder.rnn.weight_ih",
    "lstm_cell.weight_hh": "model.decoder.rnn.weight_hh",
    "lstm_cell.bias_ih": "model.decoder.rnn.bias_ih",
    "lstm_cell.bias_hh": "model.decoder.rnn.bias_hh",
    "final_conv.weight": "model.decoder.decoder.2.weight",
    "final_conv.bias": "model.decoder.decoder.2.bias",
}


def main(wheel_path, out_path):
    with zipfile.ZipFile(wheel_path) as wheel:
        model = onnx.load(io.BytesIO(wheel.read("silero_vad/data/silero_vad_op18_ifless.onnx")))
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    header, blobs, offset = {}, [], 0
    for ours, theirs in NAMES.items():
        tensor = np.ascontiguousarray(initializers[theirs], dtype="<f4")
        data = tensor.tobytes()
        header[ours] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"source": "silero-vad 6.2.3 (MIT), silero_vad_op18_ifless.onnx, 16 kHz model"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(out_path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
