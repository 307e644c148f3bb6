// Shared helpers for every page: API calls with CSRF, DOM building, drop zones, modals,
// waveforms, job following. Everything user-provided goes in via textContent, never HTML.
(() => {
  'use strict';

  const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || '';

  function signInAgain() {
    location.href = '/signin?next=' + encodeURIComponent(location.pathname);
  }

  async function api(method, url, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken() } };
    if (body instanceof FormData) {
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(url, opts);
    } catch (e) {
      throw new Error('Could not reach the server. Check your connection.');
    }
    if (res.status === 401) {
      signInAgain();
      throw new Error('Please sign in again.');
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) throw new Error((data && data.error) || `Request failed (${res.status})`);
    return data;
  }

  // POST a form with upload progress (fetch cannot report it).
  function upload(url, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', url);
      xhr.setRequestHeader('X-CSRF-Token', csrfToken());
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
      xhr.onerror = () => reject(new Error('Could not reach the server. Check your connection.'));
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 401) { signInAgain(); reject(new Error('Please sign in again.')); return; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new Error((data && data.error) || `Upload failed (${xhr.status})`));
      };
      xhr.send(form);
    });
  }

  // h('td', {class: 'x', onclick: fn}, 'text', child, ...)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  function icon(name) {
    const paths = {
      wave: 'M3 12h2M7 8v8M11 4v16M15 7v10M19 10v4M21 12h0',
      trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 002 2h6a2 2 0 002-2l1-12M9 7V4h6v3',
      x: 'M6 6l12 12M18 6L6 18',
    };
    return svg('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true' }, svg('path', { d: paths[name] }));
  }

  function toast(message, kind) {
    const area = document.querySelector('.toast-area');
    if (!area) return;
    const el = h('div', { class: 'toast' + (kind === 'error' ? ' error' : ''), role: 'status' }, message);
    area.append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 7000 : 4000);
  }

  const pct = (x) => (x === null || x === undefined || Number.isNaN(x)) ? '–' : `${(x * 100).toFixed(1)}%`;
  const num = (x, digits = 3) => (x === null || x === undefined) ? '–' : Number(x).toFixed(digits);

  function bytes(n) {
    if (n >= 1024 * 1024 * 1024) return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
    if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
    return `${Math.max(1, Math.round(n / 1024))} KB`;
  }

  function when(ms) {
    if (!ms) return '–';
    const d = new Date(ms);
    const diff = (Date.now() - ms) / 1000;
    if (diff < 60) return 'just now';
    if (diff < 3600) return `${Math.floor(diff / 60)} min ago`;
    if (diff < 86400 && d.getDate() === new Date().getDate()) return `today ${d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
    return d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  const KNOWN = ['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised'];
  const ALIAS = { anger: 'angry', happiness: 'happy', sadness: 'sad', fear: 'fearful', surprise: 'surprised', ps: 'surprised', disgusted: 'disgust' };
  function emotionClass(label) {
    const l = String(label || '').toLowerCase();
    const k = ALIAS[l] || l;
    return KNOWN.includes(k) ? `pill pill-${k}` : 'pill';
  }
  // Saves `text` as a file named `fileName` in the browser (exports built on the page).
  function download(fileName, text, type = 'text/plain') {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = h('a', { href: url, download: fileName });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // One CSV field, quoted when it holds a comma, quote or line break.
  const csvCell = (v) => {
    const text = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const csvLines = (rows) => rows.map((row) => row.map(csvCell).join(',')).join('\n') + '\n';

  const pill = (label) => label ? h('span', { class: emotionClass(label) }, label) : h('span', { class: 'muted' }, '–');

  function confidence(c) {
    const bar = h('i');
    bar.style.width = `${Math.round((c || 0) * 100)}%`;
    return h('div', { class: 'conf' }, h('div', { class: 'meter' }, bar), h('b', {}, pct(c)));
  }

  function statusPill(el, status) {
    el.hidden = false;
    el.className = `status-pill status-${status}`;
    el.textContent = status;
  }

  // A drop zone: click or drop files; validates type and size; lists what is chosen.
  function dropzone(root, { onChange }) {
    const input = root.querySelector('input[type=file]');
    const list = root.parentElement.querySelector('[data-file-list]');
    const multiple = root.hasAttribute('data-multiple');
    const kind = root.dataset.accept;
    const maxBytes = Number(root.dataset.maxBytes || 0);
    let files = [];

    const okType = (f) => kind === 'audio'
      ? (f.type.startsWith('audio/') || /\.(wav|flac|mp3|ogg|oga|opus|webm|m4a|aac)$/i.test(f.name))
      : /\.zip$/i.test(f.name);

    function render() {
      list.replaceChildren(...files.map((f, i) => h('div', { class: 'file-item' },
        h('span', { class: 'name', title: f.name }, f.name),
        h('span', { class: 'size' }, bytes(f.size)),
        h('button', { class: 'icon-btn', type: 'button', 'aria-label': `Remove ${f.name}`, onclick: () => { files.splice(i, 1); render(); onChange(files); } }, '×'))));
    }

    function add(chosen) {
      const accepted = [];
      for (const f of chosen) {
        if (!okType(f)) { toast(kind === 'audio' ? `${f.name} is not an audio file.` : `${f.name} is not a .zip file. Only ZIP archives are accepted.`, 'error'); continue; }
        if (maxBytes && f.size > maxBytes) { toast(`${f.name} is larger than the ${bytes(maxBytes)} limit.`, 'error'); continue; }
        accepted.push(f);
      }
      if (!accepted.length) return;
      files = multiple ? files.concat(accepted) : [accepted[0]];
      render();
      onChange(files);
    }

    root.querySelector('[data-choose]').addEventListener('click', (e) => { e.stopPropagation(); input.click(); });
    root.addEventListener('click', () => input.click());
    root.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } });
    input.addEventListener('change', () => { add([...input.files]); input.value = ''; });
    ['dragenter', 'dragover'].forEach((t) => root.addEventListener(t, (e) => { e.preventDefault(); root.classList.add('dragover'); }));
    ['dragleave', 'drop'].forEach((t) => root.addEventListener(t, (e) => { e.preventDefault(); root.classList.remove('dragover'); }));
    root.addEventListener('drop', (e) => add([...(e.dataTransfer?.files || [])]));

    return {
      files: () => files,
      clear() { files = []; render(); onChange(files); },
    };
  }

  function openModal(modal) {
    modal.hidden = false;
    document.body.style.overflow = 'hidden';
    modal.querySelector('[data-close].icon-btn')?.focus();
  }
  function closeModal(modal) {
    modal.hidden = true;
    document.body.style.overflow = '';
  }
  document.addEventListener('click', (e) => {
    const closer = e.target.closest('[data-close]');
    if (closer) closeModal(closer.closest('.modal'));
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') document.querySelectorAll('.modal:not([hidden])').forEach(closeModal);
  });

  // Draw [[min, max], ...] pairs (or raw samples) filling the canvas width.
  function drawWaveform(canvas, data, placeholder) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width;
    const ht = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(ht * dpr);
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, w, ht);
    const mid = ht / 2;
    ctx.strokeStyle = 'rgba(95, 100, 125, .25)';
    ctx.beginPath(); ctx.moveTo(0, mid); ctx.lineTo(w, mid); ctx.stroke();
    const pairs = toPairs(data, Math.floor(w));
    if (!pairs.length) {
      if (placeholder) {
        ctx.fillStyle = '#8a8eab';
        ctx.font = '14px system-ui, sans-serif';
        ctx.textAlign = 'center';
        ctx.fillText(placeholder, w / 2, mid - 10);
      }
      return;
    }
    const grad = ctx.createLinearGradient(0, 0, w, 0);
    grad.addColorStop(0, '#6d5efc'); grad.addColorStop(1, '#ec4899');
    ctx.fillStyle = grad;
    const peak = Math.max(0.05, ...pairs.map(([a, b]) => Math.max(Math.abs(a), Math.abs(b))));
    const scale = (ht / 2 - 4) / peak;
    const step = w / pairs.length;
    pairs.forEach(([lo, hi], i) => {
      const top = mid - hi * scale;
      const bottom = mid - lo * scale;
      ctx.fillRect(i * step, top, Math.max(1, step - 0.3), Math.max(1, bottom - top));
    });
  }

  function toPairs(data, buckets) {
    if (!data || !data.length) return [];
    if (Array.isArray(data[0])) return data;
    const n = Math.max(1, Math.min(buckets, data.length));
    const size = data.length / n;
    const out = [];
    for (let i = 0; i < n; i++) {
      let lo = 1, hi = -1;
      for (let j = Math.floor(i * size); j < Math.floor((i + 1) * size); j++) { const v = data[j]; if (v < lo) lo = v; if (v > hi) hi = v; }
      out.push([Math.min(lo, 0), Math.max(hi, 0)]);
    }
    return out;
  }

  const finished = (s) => s === 'done' || s === 'failed' || s === 'cancelled';

  // Follow a job over SSE; `onUpdate(job)` for every change. Returns a stop function.
  function followJob(id, onUpdate) {
    const source = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
    let done = false;
    source.addEventListener('job', (e) => {
      const job = JSON.parse(e.data);
      onUpdate(job);
      if (finished(job.status)) { done = true; source.close(); }
    });
    source.onerror = () => {
      // The browser reconnects by itself; once finished there is nothing more to hear.
      if (done) source.close();
    };
    return () => source.close();
  }

  // The job card of the Training and Testing pages (ids job-status, job-title, progress-*,
  // cancel-btn): a job's upload with its percentage, then its status, bar and phase, followed
  // live until it ends; Cancel. The page adds its own parts: `reset()` clears them for a new
  // job, `render(job)` shows them on every update, `onFinished(job)` runs once it ends.
  function jobCard({ storageKey, what, reset, render, onFinished, confirmCancel }) {
    const $ = (id) => document.getElementById(id);
    let stopFollowing = null;
    let current = null;

    function bar(fraction, phase) {
      $('progress-bar').style.width = `${Math.round(fraction * 100)}%`;
      $('progress-phase').textContent = phase;
    }

    // A fresh card: nothing of the job shown before stays on it.
    function shell(phase) {
      if (stopFollowing) { stopFollowing(); stopFollowing = null; }
      current = null;
      statusPill($('job-status'), 'uploading');
      $('cancel-btn').hidden = true;
      $('job-title').textContent = '';
      $('progress-empty').hidden = true;
      $('progress-body').hidden = false;
      $('progress-pct').textContent = '';
      bar(0, phase);
      reset();
    }

    function show(job) {
      current = job;
      statusPill($('job-status'), job.status);
      $('progress-pct').textContent = `${Math.round(job.progress * 100)}%`;
      bar(job.progress, job.status === 'queued' ? 'Waiting for a free worker…' : job.message);
      $('cancel-btn').hidden = finished(job.status);
      render(job);
    }

    function attach(job) {
      sessionStorage.setItem(storageKey, job.id);
      shell(job.message);
      show(job);
      if (!finished(job.status)) {
        stopFollowing = followJob(job.id, (j) => { show(j); if (finished(j.status)) onFinished(j); });
      }
    }

    // Uploads the form and follows the job it starts; on refusal, says why on the card and
    // returns null.
    async function submit(url, data) {
      shell(`Uploading ${what}…`);
      try {
        const job = await upload(url, data, (f) => bar(f, `Uploading ${what}… ${Math.round(f * 100)}%`));
        attach(job);
        return job;
      } catch (err) {
        toast(err.message, 'error');
        statusPill($('job-status'), 'rejected');
        bar(0, err.message);
        return null;
      }
    }

    // The job to show when the page opens: one still running, else the one shown last,
    // else the newest; returns it (undefined without jobs).
    function resume(jobs) {
      const job = jobs.find((j) => !finished(j.status))
        || jobs.find((j) => j.id === sessionStorage.getItem(storageKey)) || jobs[0];
      if (job) attach(job);
      return job;
    }

    $('cancel-btn').addEventListener('click', async () => {
      if (!current || (confirmCancel && !confirm(confirmCancel))) return;
      try { show(await api('POST', `/api/jobs/${current.id}/cancel`)); } catch (err) { toast(err.message, 'error'); }
    });
    return { submit, attach, resume, current: () => current };
  }

  // Navigation: mobile toggle and smooth scrolling to the footer.
  document.addEventListener('DOMContentLoaded', () => {
    const toggle = document.querySelector('[data-nav-toggle]');
    const nav = document.querySelector('.nav');
    toggle?.addEventListener('click', () => {
      const open = nav.classList.toggle('open');
      toggle.setAttribute('aria-expanded', String(open));
    });
    document.querySelectorAll('a[data-scroll]').forEach((a) => a.addEventListener('click', (e) => {
      e.preventDefault();
      document.querySelector(a.getAttribute('href'))?.scrollIntoView({ behavior: 'smooth' });
      nav?.classList.remove('open');
    }));
  });

  // "2 clips could not be read and were left out: a.wav: not audio; …" (or '').
  function skippedNote(result) {
    const skipped = (result && result.skipped) || [];
    if (!skipped.length) return '';
    const shown = skipped.slice(0, 5).join('; ');
    const more = skipped.length > 5 ? `; and ${skipped.length - 5} more` : '';
    const n = skipped.length === 1 ? '1 clip' : `${skipped.length} clips`;
    return `${n} could not be read and ${skipped.length === 1 ? 'was' : 'were'} left out: ${shown}${more}.`;
  }

  // A trash button that deletes a finished run (after asking), then calls `onDeleted`;
  // nothing for a run still queued or running.
  function deleteRunButton(job, onDeleted) {
    if (!finished(job.status)) return null;
    const name = (job.params && (job.params.model_name || job.params.dataset_name)) || 'this run';
    return h('button', {
      class: 'icon-btn danger', type: 'button', 'aria-label': `Delete the run ${name}`, title: 'Delete this run',
      onclick: async () => {
        if (!confirm(`Delete the run “${name}” from the list? A model it trained stays in Models.`)) return;
        try { await api('DELETE', `/api/jobs/${job.id}`); toast('Run deleted.'); onDeleted(); } catch (err) { toast(err.message, 'error'); }
      },
    }, icon('trash'));
  }

  window.SER = { api, upload, h, svg, icon, toast, pct, num, bytes, when, pill, emotionClass, download, csvLines, confidence, statusPill, dropzone, openModal, closeModal, drawWaveform, followJob, finished, jobCard, skippedNote, deleteRunButton };
})();
