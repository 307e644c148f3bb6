// The microphone's samples, taken in the audio thread (an AudioWorklet) and handed to the
// page in blocks of 4096: fewer messages than the 128-sample render quanta, about 85-256 ms
// each at 16-48 kHz. A 'flush' message from the page sends what is left (the end of a
// recording) and answers 'flushed'.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(4096);
    this.filled = 0;
    this.port.onmessage = (e) => {
      if (e.data !== 'flush') return;
      if (this.filled > 0) this.port.postMessage(this.block.slice(0, this.filled));
      this.filled = 0;
      this.port.postMessage('flushed');
    };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    for (let offset = 0; channel && offset < channel.length;) {
      const n = Math.min(channel.length - offset, this.block.length - this.filled);
      this.block.set(channel.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.block.length) {
        this.port.postMessage(this.block.slice(0));
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('capture', CaptureProcessor);
