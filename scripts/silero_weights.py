import onnx, numpy as np, json, struct
from onnx import numpy_helper
m = onnx.load('wheel/silero_vad/data/silero_vad_op18_ifless.onnx')
inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
names = {
 'stft_conv.weight': 'model.stft.forward_basis_buffer',
 'conv1.weight': 'model.encoder.0.reparam_conv.weight', 'conv1.bias': 'model.encoder.0.reparam_conv.bias',
 'conv2.weight': 'model.encoder.1.reparam_conv.weight', 'conv2.bias': 'model.encoder.1.reparam_conv.bias',
 'conv3.weight': 'model.encoder.2.reparam_conv.weight', 'conv3.bias': 'model.encoder.2.reparam_conv.bias',
 'conv4.weight': 'model.encoder.3.reparam_conv.weight', 'conv4.bias': 'model.encoder.3.reparam_conv.bias',
 'lstm_cell.weight_ih': 'model.decoder.rnn.weight_ih', 'lstm_cell.weight_hh': 'model.decoder.rnn.weight_hh',
 'lstm_cell.bias_ih': 'model.decoder.rnn.bias_ih', 'lstm_cell.bias_hh': 'model.decoder.rnn.bias_hh',
 'final_conv.weight': 'model.decoder.decoder.2.weight', 'final_conv.bias': 'model.decoder.decoder.2.bias',
}
W = {}
for k, v in names.items():
    if v not in inits:
        print('missing', v, [n for n in inits if 'decoder.2' in n or n.startswith('val')]); continue
    W[k] = inits[v].astype(np.float32)
print({k: v.shape for k,v in W.items()})
# write safetensors
header = {}; off = 0; blobs = []
for k in names:
    if k not in W: continue
    b = W[k].tobytes(); header[k] = {'dtype': 'F32', 'shape': list(W[k].shape), 'data_offsets': [off, off+len(b)]}; off += len(b); blobs.append(b)
header['__metadata__'] = {'source': 'silero-vad 6.2.3 (MIT), silero_vad_op18_ifless.onnx, 16 kHz model'}
h = json.dumps(header, separators=(',',':')).encode(); h += b' ' * ((8 - len(h) % 8) % 8)
open('silero_vad_v6_16k.safetensors','wb').write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
