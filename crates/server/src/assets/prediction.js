// Prediction page: upload files or record from the microphone, show results and history.
document.addEventListener('DOMContentLoaded', () => {
  'use strict';
  const { api, h, icon, toast, pct, when, pill, emotionClass, confidence, dropzone, openModal, drawWaveform, download, csvLines } = window.SER;
  const $ = (id) => document.getElementById(id);
  const form = $('predict-form');
  const model = $('model');
  const predictBtn = $('predict-btn');
  const reuploadBtn = $('reupload-btn');

  // Preselect a model passed as ?model=<id> (from the Training page).
  const wanted = new URLSearchParams(location.search).get('model');
  if (wanted && [...model.options].some((o) => o.value === wanted)) model.value = wanted;

  const zone = dropzone(form.querySelector('[data-dropzone]'), { onChange: update });
  function update() {
    predictBtn.disabled = zone.files().length === 0;
    reuploadBtn.disabled = zone.files().length === 0 && !$('results-table').querySelector('tbody').children.length;
  }
  update();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const files = zone.files();
    if (!files.length) return;
    const data = new FormData();
    data.append('model_id', model.value);
    data.append('one_speaker', $('one-speaker').checked ? 'true' : 'false');
    files.forEach((f) => data.append('files', f, f.name));
    predictBtn.disabled = true;
    predictBtn.textContent = `Predicting ${files.length} file${files.length > 1 ? 's' : ''}…`;
    try {
      const res = await api('POST', '/api/predict', data);
      $('results-model').textContent = `Model: ${res.model.name}`;
      showResults(res.results, new Map(files.map((f) => [f.name, f])));
      const failed = res.results.filter((r) => !r.ok).length;
      if (failed) toast(`${failed} of ${res.results.length} files could not be analysed.`, 'error');
      zone.clear();
      loadHistory();
    } catch (err) {
      toast(err.message, 'error');
    } finally {
      predictBtn.textContent = 'Predict';
      update();
    }
  });

  reuploadBtn.addEventListener('click', () => {
    zone.clear();
    $('results-table').querySelector('tbody').replaceChildren();
    $('results-empty').hidden = false;
    $('results-model').textContent = '';
    update();
    form.querySelector('[data-dropzone]').focus();
  });

  function trueCell(p) {
    if (!p.true_label) return h('span', { class: 'muted' }, 'unknown');
    const same = p.true_label.toLowerCase() === p.label.toLowerCase();
    return h('span', {}, pill(p.true_label), h('span', { class: same ? 'match' : 'miss', title: same ? 'Prediction matches' : 'Prediction differs' }, same ? '✓' : '✗'));
  }

  // The predicted emotion, marked when no emotion stood out (confidence under the model's threshold).
  const emotionCell = (p) => h('td', {}, pill(p.label), p.uncertain
    ? h('span', { class: 'muted', title: 'No emotion stands out: the confidence is below the model\'s threshold' }, ' uncertain')
    : null);

  const waveButton = (p) => h('button', { class: 'icon-btn', type: 'button', title: 'Show waveform', 'aria-label': `Waveform of ${p.file_name}`, onclick: () => showWave(p) }, icon('wave'));

  // ---- timelines of long recordings ----
  const clock = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;

  // Plays `file` from `start` to `end` seconds (one player at a time).
  let player = null;
  function play(file, start, end) {
    if (player) { player.pause(); URL.revokeObjectURL(player.src); }
    player = new Audio(URL.createObjectURL(file));
    player.addEventListener('loadedmetadata', () => { player.currentTime = start; player.play().catch(() => {}); }, { once: true });
    player.addEventListener('timeupdate', () => { if (player.currentTime >= end) player.pause(); });
  }

  // A coloured band of the emotions over time, the share of speech time per emotion, and the
  // segment table; with the uploaded `file` at hand, clicking a segment plays it.
  function timelineView(tl, duration, file, name) {
    const total = Math.max(duration || 0, ...tl.segments.map((s) => s.end_s)) || 1;
    const playable = (s, el) => {
      if (!file) return el;
      el.classList.add('playable');
      el.title = `${el.title || ''} (click to play)`.trim();
      el.addEventListener('click', () => play(file, s.start_s, s.end_s));
      return el;
    };
    const band = h('div', { class: 'timeline-band', role: 'img', 'aria-label': 'Emotions over time' },
      ...tl.segments.map((s, i) => {
        const seg = h('span', { class: `band-seg ${emotionClass(s.label)}`, title: `${clock(s.start_s)}–${clock(s.end_s)} ${s.label} ${pct(s.confidence)}` });
        // Overlapping windows: each is drawn until the next one starts.
        const next = tl.segments[i + 1];
        const end = next && next.start_s < s.end_s ? next.start_s : s.end_s;
        seg.style.left = `${(100 * s.start_s / total).toFixed(2)}%`;
        seg.style.width = `${(100 * (end - s.start_s) / total).toFixed(2)}%`;
        return playable(s, seg);
      }));
    const axis = h('div', { class: 'timeline-axis muted' }, h('span', {}, clock(0)), h('span', {}, clock(total)));
    const share = h('p', { class: 'timeline-share' }, 'Speech time: ',
      ...tl.speech_share.map((q) => h('span', {}, pill(q.label), ` ${Math.round(q.prob * 100)}% `)));
    const rows = tl.segments.map((s) => playable(s, h('tr', {},
      h('td', { class: 'nowrap' }, clock(s.start_s)),
      h('td', { class: 'nowrap' }, clock(s.end_s)),
      emotionCell(s),
      h('td', {}, confidence(s.confidence)))));
    const table = h('table', { class: 'timeline-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Start'), h('th', {}, 'End'), h('th', {}, 'Emotion'), h('th', {}, 'Confidence'))),
      h('tbody', {}, ...rows));
    const details = h('details', {}, h('summary', {}, `${tl.segments.length} segments`), table);
    const downloads = h('p', { class: 'timeline-downloads' }, 'Download: ',
      ...['csv', 'json', 'vtt'].map((format) => h('button', { class: 'btn btn-ghost btn-sm', type: 'button', 'data-format': format,
        onclick: () => download(`${stem(name)}-timeline.${format}`, timelineText(tl, format)) }, format.toUpperCase())));
    return h('div', { class: 'timeline' }, band, axis, share, details, downloads);
  }

  const stem = (name) => String(name || 'recording').replace(/\.[^.]*$/, '');

  // The timeline as CSV, JSON or WebVTT captions (the formats `ser predict --timeline` writes).
  function timelineText(tl, format) {
    if (format === 'json') return JSON.stringify(tl, null, 2);
    if (format === 'csv') {
      return csvLines([['start_s', 'end_s', 'emotion', 'confidence', 'uncertain'],
        ...tl.segments.map((s) => [s.start_s.toFixed(2), s.end_s.toFixed(2), s.label, s.confidence.toFixed(4), s.uncertain ? 'yes' : 'no'])]);
    }
    const stamp = (t) => new Date(Math.round(t * 1000)).toISOString().slice(11, 23);
    return 'WEBVTT\n' + tl.segments.map((s, i) =>
      `\n${i + 1}\n${stamp(s.start_s)} --> ${stamp(s.end_s)}\n${s.label}${s.uncertain ? ' (uncertain)' : ''} ${Math.round(s.confidence * 100)}%\n`).join('');
  }


  function showResults(results, uploaded = new Map()) {
    const body = $('results-table').querySelector('tbody');
    const rows = results.flatMap((r) => r.ok && r.prediction.timeline
      ? [resultRow(r), h('tr', { class: 'timeline-row', 'data-id': r.prediction.id },
        h('td', { colspan: 5 }, timelineView(r.prediction.timeline, r.prediction.duration_s, uploaded.get(r.file_name), r.file_name)))]
      : [resultRow(r)]);
    body.replaceChildren(...rows);
    $('results-empty').hidden = rows.length > 0;
  }

  function resultRow(r) {
    return r.ok
      ? h('tr', { 'data-id': r.prediction.id },
        h('td', { class: 'file', title: r.file_name }, r.file_name),
        emotionCell(r.prediction),
        h('td', {}, confidence(r.prediction.confidence)),
        h('td', {}, trueCell(r.prediction)),
        h('td', { class: 'right' }, waveButton(r.prediction)))
      : r.no_speech
        ? h('tr', {},
          h('td', { class: 'file', title: r.file_name }, r.file_name),
          h('td', { colspan: 4 }, h('span', { class: 'muted', title: 'Silence or too little sound to name an emotion' }, 'no speech heard')))
        : h('tr', {},
          h('td', { class: 'file', title: r.file_name }, r.file_name),
          h('td', { colspan: 4 }, h('span', { class: 'error-text' }, r.error)));
  }

  async function showWave(p) {
    let full = p;
    if (!p.waveform) {
      try { full = await api('GET', `/api/predictions/${p.id}`); } catch (err) { toast(err.message, 'error'); return; }
    }
    $('wave-title').textContent = full.file_name;
    $('wave-sub').textContent = `${full.label} · ${pct(full.confidence)} · ${Number(full.duration_s || 0).toFixed(1)} s · ${full.model_name}`;
    $('wave-probs').replaceChildren(...(full.probabilities || []).slice(0, 8).map((q) => {
      const bar = h('i');
      bar.style.width = `${Math.round(q.prob * 100)}%`;
      return h('div', { class: 'prob-row' }, pill(q.label), h('div', { class: 'meter' }, bar), h('b', {}, pct(q.prob)));
    }));
    $('wave-timeline').replaceChildren(...(full.timeline ? [timelineView(full.timeline, full.duration_s, null, full.file_name)] : []));
    openModal($('wave-modal'));
    drawWaveform($('wave-canvas'), full.waveform || []);
  }

  // ---- history ----
  async function loadHistory() {
    try {
      const { predictions } = await api('GET', '/api/predictions?limit=50');
      $('history-empty').hidden = predictions.length > 0;
      $('history-table').hidden = predictions.length === 0;
      $('history-table').querySelector('tbody').replaceChildren(...predictions.map((p) => h('tr', {},
        h('td', { class: 'nowrap' }, when(p.created_at)),
        h('td', { class: 'file', title: p.file_name }, p.file_name),
        emotionCell(p),
        h('td', {}, confidence(p.confidence)),
        h('td', {}, trueCell(p)),
        h('td', { class: 'file model-col' }, p.model_name),
        h('td', { class: 'right' }, h('div', { class: 'row-actions' }, waveButton(p), deleteButton(p, loadHistory))))));
      renderMic(predictions.filter((p) => p.source === 'microphone'));
      historyRows = predictions;
      $('export-history').disabled = predictions.length === 0;
      $('clear-uploads').disabled = !predictions.some((p) => p.source !== 'microphone');
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  // Deletes a stored prediction everywhere it is shown (its Results row too).
  function deleteButton(p, after) {
    return h('button', { class: 'icon-btn danger', type: 'button', title: 'Delete', 'aria-label': `Delete ${p.file_name}`, onclick: async () => {
      try {
        await api('DELETE', `/api/predictions/${p.id}`);
        $('results-table').querySelectorAll(`tbody tr[data-id="${CSS.escape(String(p.id))}"]`).forEach((tr) => tr.remove());
        $('results-empty').hidden = $('results-table').querySelector('tbody').children.length > 0;
        after();
      } catch (err) { toast(err.message, 'error'); }
    } }, icon('trash'));
  }

  // ---- microphone ----
  let micRows = [];
  function renderMic(rows) {
    micRows = rows;
    $('mic-table').querySelector('tbody').replaceChildren(...rows.map((p) => h('tr', {},
      h('td', { class: 'file' }, p.file_name),
      emotionCell(p),
      h('td', {}, confidence(p.confidence)),
      h('td', { class: 'nowrap' }, when(p.created_at)),
      h('td', { class: 'right' }, h('div', { class: 'row-actions' }, waveButton(p), deleteButton(p, loadHistory))))));
    $('mic-empty').hidden = rows.length > 0;
    $('clear-mic').disabled = rows.length === 0;
  }

  // ---- past predictions: export and clear ----
  let historyRows = [];
  $('export-history').addEventListener('click', () => {
    const head = ['when', 'file', 'emotion', 'confidence', 'uncertain', 'true_emotion', 'model', 'source'];
    const lines = historyRows.map((p) => [new Date(p.created_at).toISOString(), p.file_name, p.label,
      Number(p.confidence).toFixed(4), p.uncertain ? 'yes' : 'no', p.true_label || '', p.model_name, p.source]);
    download('predictions.csv', csvLines([head, ...lines]), 'text/csv');
  });
  $('clear-uploads').addEventListener('click', async () => {
    if (!confirm('Delete all predictions of uploaded files? Microphone predictions stay.')) return;
    try { await api('DELETE', '/api/predictions?source=upload'); loadHistory(); } catch (err) { toast(err.message, 'error'); }
  });

  $('clear-mic').addEventListener('click', async () => {
    if (!micRows.length || !confirm('Delete all microphone predictions?')) return;
    try { await api('DELETE', '/api/predictions?source=microphone'); loadHistory(); } catch (err) { toast(err.message, 'error'); }
  });

  const TARGET_RATE = 16000;
  let rec = null;        // { ctx, stream, node, chunks, rate, timer, live }
  let recording = null;  // { samples, wav }

  async function startRecording() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      toast('This browser cannot record here. Microphone access needs HTTPS or localhost.', 'error');
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false } });
    } catch (err) {
      toast('Microphone access was denied. Allow it in the browser to record.', 'error');
      return;
    }
    const ctx = new AudioContext();
    let node;
    try {
      await ctx.audioWorklet.addModule('/assets/capture-worklet.js');
      node = new AudioWorkletNode(ctx, 'capture', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      ctx.close();
      toast('This browser cannot capture audio here (no AudioWorklet).', 'error');
      return;
    }
    const source = ctx.createMediaStreamSource(stream);
    const silent = ctx.createGain();
    silent.gain.value = 0;
    const chunks = [];
    const live = $('live-switch').checked ? startLive(ctx.sampleRate) : null;
    node.port.onmessage = (e) => {
      if (!(e.data instanceof Float32Array)) return;
      chunks.push(e.data);
      if (live) live.send(e.data);
      drawWaveform($('mic-wave'), chunks.length > 40 ? concat(chunks.slice(-40)) : concat(chunks));
    };
    source.connect(node);
    node.connect(silent);
    silent.connect(ctx.destination);
    const started = Date.now();
    const timer = setInterval(() => {
      const s = Math.floor((Date.now() - started) / 1000);
      $('rec-time').textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
      if (s >= 300) stopRecording();
    }, 250);
    rec = { ctx, stream, node, chunks, rate: ctx.sampleRate, timer, live };
    $('record-btn').classList.add('recording');
    $('record-label').textContent = 'Recording…';
    $('record-btn').disabled = true;
    $('stop-btn').disabled = false;
    $('mic-predict').disabled = true;
    $('mic-audio').hidden = true;
    $('mic-hint').textContent = '';
  }

  // Resolves once the capture worklet has handed over its last, partial block.
  function flushCapture(node) {
    return new Promise((resolve) => {
      const done = setTimeout(resolve, 500);
      node.port.addEventListener('message', (e) => {
        if (e.data === 'flushed') { clearTimeout(done); resolve(); }
      });
      node.port.postMessage('flush');
    });
  }

  async function stopRecording() {
    if (!rec || rec.stopping) return;
    rec.stopping = true;
    clearInterval(rec.timer);
    rec.stream.getTracks().forEach((t) => t.stop());
    await flushCapture(rec.node);
    const wasLive = Boolean(rec.live);
    if (rec.live) rec.live.end();
    rec.node.disconnect();
    rec.ctx.close();
    const samples = resample(concat(rec.chunks), rec.rate, TARGET_RATE);
    rec = null;
    $('record-btn').classList.remove('recording');
    $('record-label').textContent = 'Record again';
    $('record-btn').disabled = false;
    $('stop-btn').disabled = true;
    if (samples.length < TARGET_RATE / 4) {
      toast('The recording is too short. Record at least a second of speech.', 'error');
      return;
    }
    const wav = encodeWav(samples, TARGET_RATE);
    recording = { samples, wav };
    drawWaveform($('mic-wave'), samples);
    const audio = $('mic-audio');
    if (audio.src) URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(wav);
    audio.hidden = false;
    $('mic-predict').disabled = false;
    $('mic-hint').textContent = `${(samples.length / TARGET_RATE).toFixed(1)} s recorded`;
    // A live recording is kept like any upload once it ends.
    if (wasLive) $('mic-predict').click();
  }

  // ---- live mode: the recording streams to GET /api/stream, a result comes back per hop ----
  const LIVE = { window_s: 3, hop_s: 1 };
  function startLive(rate) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = new URLSearchParams({ model_id: model.value, window_s: LIVE.window_s, hop_s: LIVE.hop_s });
    const socket = new WebSocket(`${scheme}://${location.host}/api/stream?${query}`);
    socket.binaryType = 'arraybuffer';
    const pending = [];
    const segments = [];
    $('live').hidden = false;
    $('live-now').replaceChildren('waiting for the first 3 s…');
    $('live-timeline').replaceChildren();
    const pcm = (samples) => {
      const out = new Int16Array(samples.length);
      samples.forEach((v, i) => { out[i] = Math.max(-1, Math.min(1, v)) * 32767; });
      return out.buffer;
    };
    socket.addEventListener('open', () => pending.splice(0).forEach((b) => socket.send(b)));
    socket.addEventListener('message', (e) => {
      const r = JSON.parse(e.data);
      if (r.error) { toast(`Live: ${r.error}`, 'error'); return; }
      if (!r.speech) { $('live-now').replaceChildren(h('span', { class: 'muted' }, 'no speech')); return; }
      $('live-now').replaceChildren(pill(r.label), ` ${pct(r.confidence)}`, r.uncertain ? h('span', { class: 'muted' }, ' uncertain') : '');
      segments.push({ start_s: r.start_s, end_s: r.end_s, label: r.label, confidence: r.confidence, uncertain: r.uncertain, top: [] });
      $('live-timeline').replaceChildren(timelineView({ segments, speech_share: liveShare(segments) }, r.end_s, null, 'live'));
    });
    socket.addEventListener('error', () => toast('The live connection failed; the recording goes on.', 'error'));
    return {
      send(chunk) {
        const bytes = pcm(resample(chunk, rate, TARGET_RATE));
        if (socket.readyState === WebSocket.OPEN) socket.send(bytes);
        else if (socket.readyState === WebSocket.CONNECTING) pending.push(bytes);
      },
      end() { if (socket.readyState === WebSocket.OPEN) socket.send('end'); },
    };
  }

  // The share of the live windows each emotion won so far (the page's own count; the server
  // gives shares for uploaded recordings).
  function liveShare(segments) {
    const counts = new Map();
    segments.forEach((s) => counts.set(s.label, (counts.get(s.label) || 0) + 1));
    return [...counts].map(([label, n]) => ({ label, prob: n / segments.length })).sort((a, b) => b.prob - a.prob);
  }

  $('record-btn').addEventListener('click', startRecording);
  $('stop-btn').addEventListener('click', stopRecording);

  $('mic-predict').addEventListener('click', async () => {
    if (!recording) return;
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '');
    const data = new FormData();
    data.append('model_id', model.value);
    data.append('source', 'microphone');
    data.append('files', recording.wav, `recording-${stamp}.wav`);
    $('mic-predict').disabled = true;
    try {
      const res = await api('POST', '/api/predict', data);
      const r = res.results[0];
      if (!r.ok) toast(r.error, 'error');
      else $('mic-hint').textContent = `Predicted ${r.prediction.label} (${pct(r.prediction.confidence)})`;
      loadHistory();
    } catch (err) {
      toast(err.message, 'error');
    } finally {
      $('mic-predict').disabled = false;
    }
  });

  function concat(chunks) {
    const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }

  // Average-and-interpolate down to the target rate (speech sits well below 8 kHz).
  function resample(input, from, to) {
    if (from === to) return input;
    const ratio = from / to;
    const out = new Float32Array(Math.floor(input.length / ratio));
    for (let i = 0; i < out.length; i++) {
      const start = Math.floor(i * ratio);
      const end = Math.min(input.length, Math.max(start + 1, Math.floor((i + 1) * ratio)));
      let sum = 0;
      for (let j = start; j < end; j++) sum += input[j];
      out[i] = sum / (end - start);
    }
    return out;
  }

  // 16-bit PCM mono WAV, so the server needs no codec for browser recordings.
  function encodeWav(samples, rate) {
    const buffer = new ArrayBuffer(44 + samples.length * 2);
    const v = new DataView(buffer);
    const text = (at, s) => { for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i)); };
    text(0, 'RIFF'); v.setUint32(4, 36 + samples.length * 2, true); text(8, 'WAVE');
    text(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
    text(36, 'data'); v.setUint32(40, samples.length * 2, true);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buffer], { type: 'audio/wav' });
  }

  drawWaveform($('mic-wave'), [], 'Your recording will appear here');
  loadHistory();
});
