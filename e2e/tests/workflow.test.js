// The main workflow against the real engine: predict uploaded clips and a microphone
// recording, train a small model, test it, and check that a second user sees none of it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { BASE, until, wav, launch, uniqueEmail, signUp, shot, sampleClips, toneDatasetZip } = require('./helpers');

const state = {};

test.before(async () => {
  const { browser } = await launch();
  state.browser = browser;
  state.a = await browser.newContext();
  state.page = await state.a.newPage();
  await signUp(state.page, uniqueEmail());
  await state.page.waitForSelector('form[action="/signout"]');
});

test.after(async () => {
  if (state.browser) await state.browser.close();
});

test('upload two clips, predict, open a waveform', async () => {
  const page = state.page;
  await page.goto(`${BASE}/prediction`);
  const clips = sampleClips();
  await page.setInputFiles('#files', clips);
  await page.waitForSelector('#predict-btn:not([disabled])');
  await page.click('#predict-btn');
  const rows = page.locator('#results-table tbody tr');
  await until(async () => (await rows.count()) === 2, { what: 'two result rows' });
  for (let i = 0; i < 2; i++) {
    const text = await rows.nth(i).innerText();
    assert.match(text, new RegExp(clips[i].name.replace('.', '\\.')));
    assert.doesNotMatch(text, /could not|error/i, text);
    assert.match(text, /\d+(\.\d+)?\s*%/, 'a confidence is shown');
  }
  // True labels from the RAVDESS names: 05 = angry, 04 = sad.
  assert.match(await rows.nth(0).innerText(), /angry/i);
  assert.match(await rows.nth(1).innerText(), /sad/i);
  await shot(page, 'prediction-results');
  await rows.nth(0).locator('button[aria-label^="Waveform"]').click();
  await page.waitForSelector('#wave-modal:not([hidden])');
  assert.match(await page.locator('#wave-title').innerText(), /03-01-05/);
  assert.ok(await page.locator('#wave-probs .prob-row').count() >= 2, 'class probabilities listed');
  // The canvas has something drawn on it.
  const inked = await page.evaluate(() => {
    const c = document.getElementById('wave-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  assert.ok(inked > 500, `waveform drawn (${inked} pixels)`);
  await shot(page, 'prediction-waveform');
  await page.click('#wave-modal .icon-btn[data-close]');
  await page.waitForSelector('#wave-modal', { state: 'hidden' });
  // A file that is not audio gets an error row naming it; the others are unaffected (sent
  // as clips of one speaker, which the engine classifies together).
  await page.check('#one-speaker');
  await page.setInputFiles('#files', [clips[0], { name: 'broken.wav', mimeType: 'audio/wav', buffer: Buffer.from('RIFF but not really a wave file') }]);
  await page.waitForSelector('#predict-btn:not([disabled])');
  await page.click('#predict-btn');
  await until(async () => (await page.locator('#results-table tbody tr .error-text').count()) === 1, { what: 'an error row' });
  assert.match(await rows.nth(1).innerText(), /broken\.wav/);
  assert.doesNotMatch(await rows.nth(1).locator('.error-text').innerText(), /\/tmp|\/users\//, 'no server paths');
  assert.match(await rows.nth(0).innerText(), /angry/i);
  await shot(page, 'prediction-error-row');
  // History lists the clips.
  await until(async () => (await page.locator('#history-table tbody tr').count()) >= 3, { what: 'history rows' });
  state.predictionIds = await page.evaluate(async () => (await (await fetch('/api/predictions?limit=50')).json()).predictions.map((p) => p.id));
  assert.equal(state.predictionIds.length, 3, 'two clips, the first one again; the broken file is not stored');
});

test('record from the microphone and predict', async () => {
  const page = state.page;
  await page.goto(`${BASE}/prediction`);
  await page.click('#record-btn');
  await page.waitForSelector('#stop-btn:not([disabled])');
  await page.waitForTimeout(2000);
  await page.click('#stop-btn');
  await page.waitForSelector('#mic-predict:not([disabled])');
  assert.match(await page.locator('#mic-hint').innerText(), /s recorded/);
  await shot(page, 'prediction-recorded');
  await page.click('#mic-predict');
  await until(async () => /Predicted/.test(await page.locator('#mic-hint').innerText()), { what: 'microphone prediction' });
  await until(async () => (await page.locator('#mic-table tbody tr').count()) === 1, { what: 'microphone row' });
  assert.match(await page.locator('#mic-table tbody tr').first().innerText(), /recording-\d+\.wav/);
  await shot(page, 'prediction-microphone');
});

test('on a phone, past predictions show emotion and confidence; a deleted one leaves Results too', async () => {
  const page = state.page;
  await page.goto(`${BASE}/`);
  assert.doesNotMatch(await page.locator('.cta-band').innerText(), /Create an account/, 'signed in: no sign-up call');
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    await page.goto(`${BASE}/prediction`);
    await page.setInputFiles('#files', [sampleClips()[1]]);
    await page.waitForSelector('#predict-btn:not([disabled])');
    await page.click('#predict-btn');
    const results = page.locator('#results-table tbody tr');
    await until(async () => (await results.count()) === 1, { what: 'a result row' });
    const id = await results.first().getAttribute('data-id');
    const row = page.locator('#history-table tbody tr').first();
    await until(async () => (await row.locator('button[aria-label^="Delete"]').count()) === 1, { what: 'history row' });
    await shot(page, 'prediction-phone');
    for (const cell of [3, 4]) {
      const box = await row.locator(`td:nth-child(${cell})`).boundingBox();
      assert.ok(box && box.x + box.width <= 390, `column ${cell} on screen: ${JSON.stringify(box)}`);
    }
    const before = await page.locator('#history-table tbody tr').count();
    await row.locator('button[aria-label^="Delete"]').click();
    await until(async () => (await results.count()) === 0, { what: 'the Results row gone' });
    await until(async () => (await page.locator('#history-table tbody tr').count()) === before - 1, { what: 'one history row fewer' });
    const left = await page.evaluate(async () => (await (await fetch('/api/predictions?limit=50')).json()).predictions.map((p) => p.id));
    assert.ok(!left.includes(id), 'deleted on the server');
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
});

test('a silent file says "no speech heard", not an error', async () => {
  const page = state.page;
  await page.goto(`${BASE}/prediction`);
  const silent = wav(1.0);
  silent.fill(0, 44);
  await page.setInputFiles('#files', [{ name: 'silence.wav', mimeType: 'audio/wav', buffer: silent }]);
  await page.waitForSelector('#predict-btn:not([disabled])');
  await page.click('#predict-btn');
  const row = page.locator('#results-table tbody tr').first();
  await until(async () => /no speech heard/.test(await row.innerText()), { what: 'the no-speech row' });
  assert.equal(await row.locator('.error-text').count(), 0, 'not shown as an error');
});

test('a long recording shows its timeline: emotion band, speech shares and segments', async () => {
  const page = state.page;
  await page.goto(`${BASE}/prediction`);
  // 5 s of voiced tone, 2 s of silence, 5 s of tone: two stretches of speech, several windows.
  const tone = wav(5.0, 16000, 150, 260);
  const pcm = (b) => b.subarray(44);
  const samples = Buffer.concat([pcm(tone), Buffer.alloc(2 * 16000 * 2), pcm(tone)]);
  const long = Buffer.concat([tone.subarray(0, 44), samples]);
  long.writeUInt32LE(36 + samples.length, 4);
  long.writeUInt32LE(samples.length, 40);
  await page.setInputFiles('#files', [{ name: 'long-call.wav', mimeType: 'audio/wav', buffer: long }]);
  await page.waitForSelector('#predict-btn:not([disabled])');
  await page.click('#predict-btn');
  const timeline = page.locator('#results-table .timeline-row');
  await timeline.waitFor();
  const bands = await timeline.locator('.band-seg').count();
  assert.ok(bands >= 2, `${bands} segments in the band`);
  assert.equal(await timeline.locator('.timeline-table tbody tr').count(), bands, 'one table row per segment');
  assert.match(await timeline.locator('.timeline-share').textContent(), /Speech time:.*\d+%/s);
  assert.equal(await timeline.locator('.band-seg.playable').count(), bands, 'the fresh upload can be played segment by segment');
  const [vtt] = await Promise.all([page.waitForEvent('download'), timeline.locator('button[data-format="vtt"]').click()]);
  assert.equal(vtt.suggestedFilename(), 'long-call-timeline.vtt');
  const captions = require('fs').readFileSync(await vtt.path(), 'utf8');
  assert.match(captions, /^WEBVTT\n\n1\n00:00:0\d\.\d{3} --> /);
  assert.equal(captions.split(' --> ').length - 1, bands, 'one cue per segment');
  await page.locator('#history-table tbody tr', { hasText: 'long-call.wav' }).locator('button[title="Show waveform"]').click();
  await page.locator('#wave-timeline .band-seg').first().waitFor();
  assert.equal(await page.locator('#wave-timeline .band-seg').count(), bands, 'the stored prediction keeps its timeline');
  await shot(page, 'timeline');
  await page.locator('#wave-modal [data-close]').last().click();
});

test('train a small model and watch it finish', async () => {
  const page = state.page;
  await page.goto(`${BASE}/training`);
  await page.setInputFiles('#dataset', { name: 'tones.zip', mimeType: 'application/zip', buffer: toneDatasetZip() });
  await page.selectOption('#kind', 'mlp');
  await page.fill('#epochs', '2');
  await page.fill('#model-name', 'E2E tones MLP');
  assert.ok(await page.isChecked('#augment'), 'augmentation is the default');
  assert.equal(await page.locator('#members').inputValue(), '1');
  await page.waitForSelector('#train-btn:not([disabled])');
  await shot(page, 'training-ready');
  await page.click('#train-btn');
  await page.waitForSelector('#progress-body:not([hidden])');
  await page.waitForSelector('#job-status.status-done, #job-status.status-failed', { timeout: 120000 });
  const status = await page.locator('#job-status').innerText();
  assert.match(status, /done/i, `job finished: ${status} (${await page.locator('#progress-phase').innerText()})`);
  assert.equal(await page.locator('#progress-bar').evaluate((el) => el.style.width), '100%');
  assert.equal(await page.locator('#stat-epoch').innerText(), '2 / 2');
  assert.match(await page.locator('#final-kept').innerText(), /keeps the weights of epoch [12], the one with the best validation accuracy/);
  assert.match(await page.locator('#final-val').innerText(), /%/);
  await until(async () => (await page.locator('#models-table tbody tr').count()) === 1, { what: 'model row' });
  await until(async () => (await page.locator('#chart polyline').count()) >= 2, { what: 'training curves' });
  await shot(page, 'training-done');
  const models = await page.evaluate(async () => (await (await fetch('/api/models')).json()).models);
  const own = models.filter((m) => !m.builtin);
  assert.equal(own.length, 1);
  assert.equal(own[0].metrics.augment, true, 'the form asked for augmentation');
  state.modelId = own[0].id;
  state.modelName = own[0].name;
  // The bundle downloads from the Models table; the finished run can be deleted.
  const href = await page.locator('#models-table a', { hasText: 'Download' }).getAttribute('href');
  assert.equal(href, `/api/models/${own[0].id}/download`);
  const size = await page.evaluate(async (url) => (await (await fetch(url)).arrayBuffer()).byteLength, href);
  assert.ok(size > 1000, `bundle of ${size} bytes`);
  assert.equal(await page.locator('#jobs-table button[title="Delete this run"]').count(), 1);
});

test('a rejected upload leaves nothing of the previous run on the progress card', async () => {
  const page = state.page;
  await page.goto(`${BASE}/training`);
  await page.waitForSelector('#job-status.status-done');
  await page.setInputFiles('#dataset', { name: 'broken.zip', mimeType: 'application/zip', buffer: Buffer.from('this is not a zip archive') });
  await page.selectOption('#kind', 'mlp');
  await page.fill('#epochs', '2');
  await page.waitForSelector('#train-btn:not([disabled])');
  await page.click('#train-btn');
  await page.waitForSelector('#job-status.status-rejected');
  assert.equal(await page.locator('#progress-bar').evaluate((el) => el.style.width), '0%');
  assert.ok(await page.locator('#final-tiles').isHidden(), 'no accuracy tiles of the earlier run');
  assert.notEqual(await page.locator('#progress-phase').innerText(), '');
});

test('test the trained model and open the results', async () => {
  const page = state.page;
  assert.ok(state.modelId, 'a model was trained');
  await page.goto(`${BASE}/testing`);
  await page.selectOption('#model', state.modelId);
  await page.setInputFiles('#dataset', { name: 'tones-test.zip', mimeType: 'application/zip', buffer: toneDatasetZip(2, 2) });
  await page.waitForSelector('#test-btn:not([disabled])');
  await page.click('#test-btn');
  await page.waitForSelector('#show-results:not([disabled])', { timeout: 120000 });
  assert.equal(await page.locator('#progress-bar').evaluate((el) => el.style.width), '100%');
  await shot(page, 'testing-done');
  await page.click('#show-results');
  await page.waitForSelector('#results-modal:not([hidden])');
  assert.equal(await page.locator('#r-n').innerText(), '8');
  assert.equal(await page.locator('#r-classes tbody tr').count(), 2);
  assert.equal(await page.locator('#r-confusion table.cm').count(), 1, 'confusion matrix shown as a table');
  const cellPx = await page.locator('#r-confusion table.cm td').first().evaluate((td) => parseFloat(getComputedStyle(td).fontSize));
  assert.ok(cellPx >= 12, `confusion-matrix text of ${cellPx} px`);
  await shot(page, 'testing-results');
  // The results download: the confusion matrix as CSV has a header and one row per emotion.
  const [matrix] = await Promise.all([page.waitForEvent('download'), page.click('#r-downloads [data-file="confusion-matrix.csv"]')]);
  const lines = require('fs').readFileSync(await matrix.path(), 'utf8').trim().split('\n');
  assert.equal(lines.length, 3, lines.join('|'));
  assert.match(lines[0], /^true \\ predicted,/);
  const sum = lines.slice(1).flatMap((l) => l.split(',').slice(1)).reduce((a, b) => a + Number(b), 0);
  assert.equal(sum, 8, 'every test clip counted once');
  assert.equal(await page.locator('#r-downloads [data-file="per-class.csv"]').count(), 1);
  // The trained model is offered for prediction too.
  await page.goto(`${BASE}/prediction?model=${encodeURIComponent(state.modelId)}`);
  assert.equal(await page.locator('#model').inputValue(), state.modelId);
});

test('a training run is cancelled from its card', async () => {
  const page = state.page;
  await page.goto(`${BASE}/training`);
  await page.setInputFiles('#dataset', { name: 'tones.zip', mimeType: 'application/zip', buffer: toneDatasetZip() });
  await page.selectOption('#kind', 'cnn4');
  await page.fill('#epochs', '1000');
  await page.waitForSelector('#train-btn:not([disabled])');
  await page.click('#train-btn');
  await page.waitForSelector('#job-status.status-running', { timeout: 60000 });
  page.once('dialog', (dialog) => dialog.accept());
  await page.click('#cancel-btn');
  await page.waitForSelector('#job-status.status-cancelled', { timeout: 60000 });
  assert.ok(await page.locator('#cancel-btn').isHidden(), 'nothing left to cancel');
  const rows = page.locator('#jobs-table tbody tr');
  await until(async () => /cancelled/i.test(await rows.first().innerText()), { what: 'the cancelled run first in the list' });
  assert.equal(await rows.first().getAttribute('class'), 'selected', 'the run shown on the card is marked in the list');
});

test('a second user sees none of the first user\'s data', async () => {
  const b = await state.browser.newContext();
  try {
    const page = await b.newPage();
    await signUp(page, uniqueEmail());
    await page.waitForSelector('form[action="/signout"]');
    await page.goto(`${BASE}/prediction`);
    await page.waitForSelector('#history-empty:not([hidden])');
    assert.equal(await page.locator('#history-table tbody tr').count(), 0);
    const options = await page.locator('#model option').allTextContents();
    assert.ok(!options.some((o) => o.includes(state.modelName)), `B's model list: ${options}`);
    await shot(page, 'prediction-user-b');
    await page.goto(`${BASE}/training`);
    await page.waitForSelector('#models-empty:not([hidden])');
    await page.waitForSelector('#jobs-empty:not([hidden])');
    await page.goto(`${BASE}/testing`);
    assert.equal(await page.locator(`#model option[value="${state.modelId}"]`).count(), 0);
    // Direct API access to A's things is refused.
    const statuses = await page.evaluate(async ({ modelId, predictionId }) => {
      const get = async (url) => (await fetch(url)).status;
      return [await get(`/api/models/${modelId}`), await get(`/api/predictions/${predictionId}`)];
    }, { modelId: state.modelId, predictionId: state.predictionIds[0] });
    assert.deepEqual(statuses, [404, 404]);
    const listed = await page.evaluate(async () => (await (await fetch('/api/predictions')).json()).predictions.length);
    assert.equal(listed, 0);
  } finally {
    await b.close();
  }
});

test('past predictions download as CSV, and uploads clear while microphone predictions stay', async () => {
  const page = state.page;
  await page.goto(`${BASE}/prediction`);
  await page.waitForSelector('#export-history:not([disabled])');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-history')]);
  assert.equal(download.suggestedFilename(), 'predictions.csv');
  const csv = require('fs').readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'when,file,emotion,confidence,uncertain,true_emotion,model,source');
  const shown = await page.locator('#history-table tbody tr').count();
  assert.equal(csv.length - 1, shown, 'one line per past prediction');
  page.once('dialog', (d) => d.accept());
  await page.click('#clear-uploads');
  await until(async () => (await page.locator('#history-table tbody tr').count()) === 1, { what: 'only the microphone row left' });
  assert.match(await page.locator('#history-table tbody tr').first().innerText(), /recording-/);
  assert.ok(await page.locator('#clear-uploads').isDisabled());
});

test('live mode: emotions arrive while recording, and the finished recording is kept', async () => {
  const page = state.page;
  await page.goto(`${BASE}/prediction`);
  const before = await page.locator('#mic-table tbody tr').count();
  await page.check('#live-switch');
  await page.click('#record-btn');
  await page.waitForSelector('#stop-btn:not([disabled])');
  // The fake microphone plays a speech-like tone: after 3 s the first window comes back.
  await until(async () => (await page.locator('#live-timeline .band-seg').count()) >= 2, { what: 'two live windows', timeout: 20000 });
  assert.equal(await page.locator('#live-now .pill').count(), 1, 'the rolling emotion is shown');
  await shot(page, 'prediction-live');
  await page.click('#stop-btn');
  await until(async () => (await page.locator('#mic-table tbody tr').count()) === before + 1, { what: 'the live recording stored' });
});
