// Training page: choose a dataset, model type and epochs; follow the job live; show curves.
document.addEventListener('DOMContentLoaded', () => {
  'use strict';
  const { api, h, svg, icon, toast, pct, num, when, dropzone, jobCard, skippedNote, deleteRunButton } = window.SER;
  const $ = (id) => document.getElementById(id);
  const form = $('train-form');
  const kind = $('kind');
  const epochs = $('epochs');
  const trainBtn = $('train-btn');

  const zone = dropzone(form.querySelector('[data-dropzone]'), { onChange: update });
  const card = jobCard({
    storageKey: 'ser.trainJob',
    what: 'dataset',
    reset() {
      $('final-tiles').hidden = true;
      $('use-model').hidden = true;
      ['final-protocol', 'final-skipped', 'final-kept'].forEach((id) => { $(id).textContent = ''; });
      ['stat-epoch', 'stat-loss', 'stat-val'].forEach((id) => { $(id).textContent = '–'; });
      $('chart').replaceChildren();
    },
    render,
    onFinished: () => { loadJobs(); loadModels(); },
    confirmCancel: 'Cancel this training run?',
  });

  function epochsValid() {
    const n = Number(epochs.value);
    return Number.isInteger(n) && n >= 1 && n <= 1000;
  }

  function update() {
    const ready = zone.files().length === 1 && kind.value && epochsValid();
    trainBtn.disabled = !ready;
    const missing = [];
    if (!zone.files().length) missing.push('a dataset ZIP');
    if (!kind.value) missing.push('a model type');
    if (!epochsValid()) missing.push('epochs (1–1000)');
    $('train-hint').textContent = ready ? 'Ready to train.' : `Still needed: ${missing.join(', ')}.`;
    document.querySelectorAll('[data-kind]').forEach((p) => { p.hidden = p.dataset.kind !== kind.value; });
    // Only networks form ensembles: a classical model trains alone.
    const chosen = form.querySelector(`[data-kind="${CSS.escape(kind.value)}"]`);
    const members = $('members');
    members.disabled = Boolean(chosen) && chosen.dataset.ensemble !== 'true';
    if (members.disabled) members.value = '1';
  }
  kind.addEventListener('change', update);
  epochs.addEventListener('input', update);
  update();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (trainBtn.disabled) return;
    const data = new FormData();
    data.append('kind', kind.value);
    data.append('epochs', epochs.value);
    data.append('augment', $('augment').checked ? 'true' : 'false');
    data.append('members', $('members').value);
    data.append('name', $('model-name').value);
    data.append('dataset', zone.files()[0]);
    trainBtn.disabled = true;
    if (await card.submit('/api/jobs/train', data)) {
      zone.clear();
      $('model-name').value = '';
      toast('Training started. You can leave this page; the run continues on the server.');
      highlightRow();
      loadJobs();
    }
    update();
  });

  // The run's own parts of the card: title, epoch, loss and accuracy, curves, final tiles.
  function render(job) {
    const p = job.params || {};
    $('job-title').textContent = `${p.model_name || 'Model'} · ${p.dataset_name || ''}`;
    const d = job.detail || {};
    if (d.epochs) $('stat-epoch').textContent = epochText(job, d);
    if (d.train_loss !== undefined && d.train_loss !== null) $('stat-loss').textContent = num(d.train_loss);
    if (d.val_acc !== undefined && d.val_acc !== null) $('stat-val').textContent = pct(d.val_acc);
    const history = (job.result && job.result.history) || d.history || [];
    drawChart(history, p.epochs || history.length);
    if (job.status === 'done' && job.result) {
      $('final-tiles').hidden = false;
      $('final-train').textContent = pct(job.result.train_accuracy);
      $('final-val').textContent = pct(job.result.val_accuracy);
      $('final-protocol').textContent = job.result.protocol ? `Validation protocol: ${job.result.protocol}.` : '';
      $('final-skipped').textContent = skippedNote(job.result);
      $('final-kept').textContent = keptNote(job.result, p);
      $('use-model').hidden = false;
      $('use-model').href = `/prediction?model=${encodeURIComponent(job.result.model_id)}`;
    }
  }

  // "3 / 40", "3 / 40 · network 2 of 5", or for a run that stopped early "13 / 60 (stopped early)".
  function epochText(job, d) {
    const r = job.status === 'done' && job.result;
    if (r && r.epochs_run && d.epochs && r.epochs_run < d.epochs) return `${r.epochs_run} / ${d.epochs} (stopped early)`;
    const network = d.members > 1 ? ` · network ${d.member + 1} of ${d.members}` : '';
    return `${d.epoch} / ${d.epochs}${network}`;
  }

  // Which weights the model keeps, and why training ended when it did.
  function keptNote(r, p) {
    const asked = p.epochs || 0;
    if ((p.members || 1) > 1) return `Each of the ${p.members} networks keeps the weights of its epoch with the best validation accuracy.`;
    if (!r.kept_epoch) return '';
    let note = `The model keeps the weights of epoch ${r.kept_epoch}, the one with the best validation accuracy (the tiles above).`;
    if (r.epochs_run && asked && r.epochs_run < asked) {
      note += ` Training stopped early after epoch ${r.epochs_run} of ${asked}: validation accuracy had not improved for several epochs.`;
    }
    return note;
  }

  // Accuracy (0–1, left axis) and loss (scaled to its maximum) per epoch.
  function drawChart(history, totalEpochs) {
    const W = 560, H = 220, L = 40, R = 16, T = 12, B = 28;
    const n = Math.max(totalEpochs || 0, history.length, 2);
    const x = (e) => L + ((e - 1) / Math.max(1, n - 1)) * (W - L - R);
    const y = (v) => T + (1 - v) * (H - T - B);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Training curves' });
    for (let i = 0; i <= 4; i++) {
      const v = i / 4;
      root.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e5e7f0' }));
      root.append(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#8a8eab' }, `${v * 100}%`));
    }
    const ticks = Math.min(n, 8);
    for (let i = 0; i < ticks; i++) {
      const e = Math.round(1 + (i * (n - 1)) / Math.max(1, ticks - 1));
      root.append(svg('text', { x: x(e), y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#8a8eab' }, e));
    }
    if (!history.length) {
      root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', 'font-size': 13, fill: '#8a8eab' }, 'Curves appear after the first epoch'));
    } else {
      const maxLoss = Math.max(...history.map((r) => r.train_loss || 0), 1e-9);
      const line = (values, color, dash) => {
        const pts = history.map((r, i) => values(r, i)).map((v, i) => (v === null || v === undefined) ? null : `${x(history[i].epoch)},${y(v)}`).filter(Boolean);
        if (!pts.length) return;
        root.append(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-linejoin': 'round', 'stroke-linecap': 'round', 'stroke-dasharray': dash || 'none' }));
        const last = pts[pts.length - 1].split(',');
        root.append(svg('circle', { cx: last[0], cy: last[1], r: 3.5, fill: color }));
      };
      line((r) => r.train_loss / maxLoss, '#94a3b8', '5 4');
      line((r) => r.train_acc, '#6d5efc');
      line((r) => r.val_acc, '#ec4899');
    }
    $('chart').replaceChildren(root);
  }

  function highlightRow() {
    document.querySelectorAll('#jobs-table tbody tr').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === card.current()?.id));
  }

  async function loadJobs(reattach) {
    try {
      const { jobs } = await api('GET', '/api/jobs');
      const train = jobs.filter((j) => j.kind === 'train');
      $('jobs-empty').hidden = train.length > 0;
      $('jobs-table').hidden = train.length === 0;
      $('jobs-table').querySelector('tbody').replaceChildren(...train.map((j) => {
        const status = h('span', { class: `status-pill status-${j.status}` }, j.status);
        const val = j.result && j.result.val_accuracy !== undefined ? pct(j.result.val_accuracy) : (j.status === 'running' ? `${Math.round(j.progress * 100)}%…` : '–');
        return h('tr', { 'data-id': j.id },
          h('td', {}, when(j.created_at)),
          h('td', { class: 'file' }, j.params.model_name || '–'),
          h('td', { class: 'file' }, j.params.dataset_name || '–'),
          h('td', {}, status, j.status === 'failed' ? h('div', { class: 'error-text' }, j.message) : null),
          h('td', {}, val),
          h('td', { class: 'right' }, h('div', { class: 'row-actions' },
            h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { card.attach(j); highlightRow(); } }, 'View'),
            deleteRunButton(j, () => loadJobs(false)))));
      }));
      highlightRow();
      if (reattach) {
        card.resume(train);
        highlightRow();
      }
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function loadModels() {
    try {
      const { models } = await api('GET', '/api/models');
      const own = models.filter((m) => !m.builtin);
      $('models-empty').hidden = own.length > 0;
      $('models-table').hidden = own.length === 0;
      $('models-table').querySelector('tbody').replaceChildren(...own.map((m) => h('tr', {},
        h('td', { class: 'file' }, m.name),
        h('td', {}, m.kind),
        h('td', {}, pct(m.metrics && m.metrics.train_accuracy)),
        h('td', {}, pct(m.metrics && m.metrics.val_accuracy)),
        h('td', {}, when(m.created_at)),
        h('td', { class: 'right' }, h('div', { class: 'row-actions' },
          h('a', { class: 'btn btn-ghost btn-sm', href: `/prediction?model=${encodeURIComponent(m.id)}` }, 'Predict'),
          h('a', { class: 'btn btn-ghost btn-sm', href: `/api/models/${encodeURIComponent(m.id)}/download`, download: '' }, 'Download'),
          h('button', { class: 'icon-btn danger', type: 'button', 'aria-label': `Delete ${m.name}`, title: 'Delete model', onclick: () => removeModel(m) }, icon('trash')))))));
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function removeModel(m) {
    if (!confirm(`Delete the model “${m.name}”? This cannot be undone.`)) return;
    try { await api('DELETE', `/api/models/${m.id}`); toast('Model deleted.'); loadModels(); } catch (err) { toast(err.message, 'error'); }
  }

  $('refresh-jobs').addEventListener('click', () => loadJobs(false));
  loadJobs(true);
  loadModels();
});
