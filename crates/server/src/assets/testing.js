// Testing page: run a model over a labelled ZIP, follow progress, show results in a modal.
document.addEventListener('DOMContentLoaded', () => {
  'use strict';
  const { api, h, toast, pct, when, dropzone, openModal, jobCard, skippedNote, deleteRunButton } = window.SER;
  const $ = (id) => document.getElementById(id);
  const form = $('test-form');
  const model = $('model');
  const testBtn = $('test-btn');

  const zone = dropzone(form.querySelector('[data-dropzone]'), { onChange: update });
  const card = jobCard({
    storageKey: 'ser.testJob',
    what: 'test set',
    reset() {
      $('final-skipped').textContent = '';
      $('final-tiles').hidden = true;
      $('show-results').disabled = true;
    },
    render,
    onFinished: () => loadJobs(),
  });

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
    if (await card.submit('/api/jobs/test', data)) {
      zone.clear();
      loadJobs();
    }
    update();
  });

  // The test's own parts of the card: title, result tiles, the results button.
  function render(job) {
    const p = job.params || {};
    $('job-title').textContent = `${p.model_name || 'Model'} on ${p.dataset_name || 'test set'}`;
    const done = job.status === 'done' && job.result;
    $('show-results').disabled = !done;
    $('final-tiles').hidden = !done;
    $('final-skipped').textContent = done ? [skippedNote(job.result), ...(job.result.notes || [])].filter(Boolean).join(' ') : '';
    if (done) {
      $('final-wa').textContent = pct(job.result.accuracy);
      $('final-ua').textContent = pct(job.result.unweighted_accuracy);
    }
  }

  $('show-results').addEventListener('click', () => card.current() && showResults(card.current()));

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
          ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { card.attach(j); showResults(j); } }, 'Show Results')
          : h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => card.attach(j) }, 'View'),
          deleteRunButton(j, () => loadJobs(false)))))));
      if (reattach) {
        const shown = card.resume(tests);
        if (shown && location.hash === '#results' && shown.status === 'done') showResults(shown);
      }
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  $('refresh-jobs').addEventListener('click', () => loadJobs(false));
  loadJobs(true);
});
