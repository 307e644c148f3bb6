// Testing page: run a model over a labelled ZIP, follow progress, show results in a modal.
document.addEventListener('DOMContentLoaded', () => {
  'use strict';
  const { api, upload, h, toast, pct, when, statusPill, dropzone, openModal, followJob, finished, skippedNote, deleteRunButton } = window.SER;
  const $ = (id) => document.getElementById(id);
  const form = $('test-form');
  const model = $('model');
  const testBtn = $('test-btn');
  let stopFollowing = null;
  let current = null;

  const zone = dropzone(form.querySelector('[data-dropzone]'), { onChange: update });

  function update() {
    const ready = zone.files().length === 1 && model.value;
    testBtn.disabled = !ready;
    $('test-hint').textContent = ready ? 'Ready to test.' : (model.value ? 'Choose a test ZIP.' : 'Choose a model and a test ZIP.');
  }
  model.addEventListener('change', update);
  update();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (testBtn.disabled) return;
    const data = new FormData();
    data.append('model_id', model.value);
    data.append('dataset', zone.files()[0]);
    testBtn.disabled = true;
    shell('Uploading test set…');
    try {
      const job = await upload('/api/jobs/test', data, (f) => {
        $('progress-phase').textContent = `Uploading test set… ${Math.round(f * 100)}%`;
        $('progress-bar').style.width = `${Math.round(f * 100)}%`;
      });
      zone.clear();
      attach(job);
      loadJobs();
    } catch (err) {
      toast(err.message, 'error');
      statusPill($('job-status'), 'rejected');
      $('progress-phase').textContent = err.message;
      $('progress-bar').style.width = '0%';
    } finally {
      update();
    }
  });

  // A fresh progress card: nothing of the test shown before stays on it.
  function shell(phase) {
    if (stopFollowing) { stopFollowing(); stopFollowing = null; }
    current = null;
    statusPill($('job-status'), 'uploading');
    $('cancel-btn').hidden = true;
    $('job-title').textContent = '';
    $('final-skipped').textContent = '';
    $('progress-empty').hidden = true;
    $('progress-body').hidden = false;
    $('final-tiles').hidden = true;
    $('show-results').disabled = true;
    $('progress-phase').textContent = phase;
    $('progress-pct').textContent = '';
    $('progress-bar').style.width = '0%';
  }

  function attach(job) {
    if (stopFollowing) stopFollowing();
    sessionStorage.setItem('ser.testJob', job.id);
    shell(job.message);
    render(job);
    if (!finished(job.status)) stopFollowing = followJob(job.id, (j) => { render(j); if (finished(j.status)) loadJobs(); });
  }

  function render(job) {
    current = job;
    const p = job.params || {};
    $('job-title').textContent = `${p.model_name || 'Model'} on ${p.dataset_name || 'test set'}`;
    statusPill($('job-status'), job.status);
    $('progress-bar').style.width = `${Math.round(job.progress * 100)}%`;
    $('progress-pct').textContent = `${Math.round(job.progress * 100)}%`;
    $('progress-phase').textContent = job.status === 'queued' ? 'Waiting for a free worker…' : job.message;
    $('cancel-btn').hidden = finished(job.status);
    const done = job.status === 'done' && job.result;
    $('show-results').disabled = !done;
    $('final-tiles').hidden = !done;
    $('final-skipped').textContent = done ? [skippedNote(job.result), ...(job.result.notes || [])].filter(Boolean).join(' ') : '';
    if (done) {
      $('final-wa').textContent = pct(job.result.accuracy);
      $('final-ua').textContent = pct(job.result.unweighted_accuracy);
    }
  }

  $('cancel-btn').addEventListener('click', async () => {
    if (!current) return;
    try { render(await api('POST', `/api/jobs/${current.id}/cancel`)); } catch (err) { toast(err.message, 'error'); }
  });
  $('show-results').addEventListener('click', () => current && showResults(current));

  function showResults(job) {
    const r = job.result;
    const p = job.params || {};
    $('results-sub').textContent = `${p.model_name || 'Model'} on ${p.dataset_name || 'test set'}`;
    $('r-wa').textContent = pct(r.accuracy);
    $('r-ua').textContent = pct(r.unweighted_accuracy);
    $('r-n').textContent = r.samples;
    $('r-classes').querySelector('tbody').replaceChildren(...(r.per_class || []).map((c) => h('tr', {},
      h('td', {}, window.SER.pill(c.label)), h('td', {}, pct(c.precision)), h('td', {}, pct(c.recall)), h('td', {}, pct(c.f1)), h('td', {}, c.support))));
    // The table keeps its text readable at any width; the engine's picture (SVG, which
    // shrinks with the modal) is offered as a download.
    const box = $('r-confusion');
    box.replaceChildren(confusionTable(r.labels || [], r.confusion || []));
    $('r-downloads').replaceChildren(...resultDownloads(r));
    openModal($('results-modal'));
  }

  // The results to take away: per-class table and confusion matrix (CSV), the matrix as a
  // picture (SVG), and everything as JSON.
  function resultDownloads(r) {
    const { download, csvLines } = window.SER;
    const labels = r.labels || [];
    const files = [
      ['Per-class table (CSV)', 'per-class.csv', () => csvLines([['emotion', 'precision', 'recall', 'f1', 'support'],
        ...(r.per_class || []).map((c) => [c.label, c.precision, c.recall, c.f1, c.support])])],
      ['Confusion matrix (CSV)', 'confusion-matrix.csv', () => csvLines([['true \\ predicted', ...labels],
        ...(r.confusion || []).map((row, i) => [labels[i], ...row])])],
      ['Everything (JSON)', 'test-results.json', () => JSON.stringify(r, null, 2)],
    ];
    if (r.confusion_svg) files.splice(2, 0, ['Confusion matrix (SVG)', 'confusion-matrix.svg', () => r.confusion_svg]);
    return files.map(([text, name, make]) => h('button', { class: 'btn btn-ghost btn-sm', type: 'button', 'data-file': name, onclick: () => download(name, make()) }, text));
  }

  // A heat-map table: rows are true emotions, columns predicted.
  function confusionTable(labels, m) {
    const max = Math.max(1, ...m.flat());
    const head = h('tr', {}, h('th', {}), ...labels.map((l) => h('th', { class: 'rot' }, l)));
    const rows = m.map((row, i) => h('tr', {}, h('th', {}, labels[i]), ...row.map((v, j) => {
      const td = h('td', { title: `true ${labels[i]}, predicted ${labels[j]}: ${v}` }, v);
      const a = v / max;
      td.style.background = i === j ? `rgba(109, 94, 252, ${0.12 + 0.88 * a})` : `rgba(236, 72, 153, ${v ? 0.1 + 0.7 * a : 0.04})`;
      td.style.color = a > 0.55 ? '#fff' : '#15172b';
      return td;
    })));
    return h('div', {}, h('table', { class: 'cm' }, head, ...rows), h('p', { class: 'cm-axis' }, 'rows: true emotion · columns: predicted'));
  }

  async function loadJobs(reattach) {
    try {
      const { jobs } = await api('GET', '/api/jobs');
      const tests = jobs.filter((j) => j.kind === 'test');
      $('jobs-empty').hidden = tests.length > 0;
      $('jobs-table').hidden = tests.length === 0;
      $('jobs-table').querySelector('tbody').replaceChildren(...tests.map((j) => h('tr', {},
        h('td', {}, when(j.created_at)),
        h('td', { class: 'file' }, j.params.model_name || '–'),
        h('td', { class: 'file' }, j.params.dataset_name || '–'),
        h('td', {}, h('span', { class: `status-pill status-${j.status}` }, j.status), j.status === 'failed' ? h('div', { class: 'error-text' }, j.message) : null),
        h('td', {}, j.result ? pct(j.result.accuracy) : '–'),
        h('td', { class: 'right' }, h('div', { class: 'row-actions' }, j.status === 'done'
          ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { attach(j); showResults(j); } }, 'Show Results')
          : h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => attach(j) }, 'View'),
          deleteRunButton(j, () => loadJobs(false)))))));
      if (reattach) {
        const live = tests.find((j) => !finished(j.status));
        const last = tests.find((j) => j.id === sessionStorage.getItem('ser.testJob'));
        if (live || last || tests[0]) { attach(live || last || tests[0]); if (location.hash === "#results" && (live || last || tests[0]).status === "done") showResults(live || last || tests[0]); }
      }
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  $('refresh-jobs').addEventListener('click', () => loadJobs(false));
  loadJobs(true);
});
