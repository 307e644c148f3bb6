// Shared helpers: server lifecycle is owned by run.sh; tests read SER_E2E_BASE_URL.
const { chromium } = require('playwright-core');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const BASE = process.env.SER_E2E_BASE_URL || 'http://127.0.0.1:18080';
const SHOTS = path.join(__dirname, '..', 'screenshots');

// 16-bit mono PCM WAV with a chirp (used as fake microphone and upload clips).
function wav(seconds = 1.0, rate = 16000, f0 = 220, f1 = 880) {
  const n = Math.floor(seconds * rate);
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + n * 2, 4); buf.write('WAVE', 8);
  buf.write('fmt ', 12); buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34);
  buf.write('data', 36); buf.writeUInt32LE(n * 2, 40);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const f = f0 + (f1 - f0) * (i / n);
    phase += 2 * Math.PI * f / rate;
    // Rising and falling 4 times a second, as syllables do: a steady tone is not speech to
    // the voice-activity detector.
    const syllables = 0.2 + 0.8 * Math.abs(Math.sin(Math.PI * 4 * i / rate));
    buf.writeInt16LE(Math.round(Math.sin(phase) * 12000 * syllables), 44 + i * 2);
  }
  return buf;
}

// CRC-32 (IEEE) for the ZIP writer.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A stored (uncompressed) ZIP of { name: Buffer } entries.
function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, data] of Object.entries(entries)) {
    const nameBuf = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(0, 6);
    local.writeUInt16LE(0, 8); local.writeUInt32LE(0, 10); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26); local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8); central.writeUInt16LE(0, 10); central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16); central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  const count = Object.keys(entries).length;
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(count, 8); end.writeUInt16LE(count, 10);
  end.writeUInt32LE(dir.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

// A 16-bit mono WAV of a steady tone.
function tone(freq, seconds = 0.75, rate = 16000) {
  return wav(seconds, rate, freq, freq);
}

// A small labelled dataset ZIP: Actor_0k/<emotion>/clipN.wav, sad = low tone, happy = high tone.
function toneDatasetZip(speakers = 4, takes = 3) {
  const entries = {};
  for (let s = 1; s <= speakers; s++) {
    for (const [emotion, freq] of [['sad', 150], ['happy', 900]]) {
      for (let t = 0; t < takes; t++) {
        const f = freq * (1 + 0.02 * s + 0.01 * t);
        entries[`Actor_0${s}/${emotion}/clip${t}.wav`] = tone(f);
      }
    }
  }
  return zip(entries);
}

// Two clips to upload: RAVDESS files from ../shared when present (true labels from the
// names), else generated tones with RAVDESS-style names.
function sampleClips() {
  const ravdess = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'ravdess', 'Actor_01');
  const names = ['03-01-05-01-01-01-01.flac', '03-01-04-01-01-01-01.flac'];
  if (names.every((n) => fs.existsSync(path.join(ravdess, n)))) {
    return names.map((n) => ({ name: n, mimeType: 'audio/flac', buffer: fs.readFileSync(path.join(ravdess, n)) }));
  }
  return [
    { name: '03-01-05-01-01-01-01.wav', mimeType: 'audio/wav', buffer: wav(2.0, 16000, 180, 320) },
    { name: '03-01-04-01-01-01-01.wav', mimeType: 'audio/wav', buffer: wav(2.0, 16000, 120, 160) },
  ];
}

async function launch() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ser-e2e-'));
  const mic = path.join(dir, 'mic.wav');
  fs.writeFileSync(mic, wav(3.0, 48000));
  const browser = await chromium.launch({
    executablePath: process.env.SER_E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${mic}`],
  });
  return { browser, dir };
}

let counter = 0;
function uniqueEmail() {
  return `e2e-${Date.now()}-${process.pid}-${counter++}@example.com`;
}

async function signUp(page, email, password = 'correct-horse-9') {
  await page.goto(`${BASE}/signup`);
  await page.fill('input[name=name]', 'E2E User');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForLoadState('load'), page.click('form[action="/signup"] button[type=submit]')]);
}

// Polls `check` (an async function run in node, e.g. with locators) until it returns a truthy
// value. The app's CSP forbids eval, so page.waitForFunction cannot be used.
async function until(check, { timeout = 30000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // From the top, so the sticky header is not drawn over the middle of a full-page picture.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

module.exports = { BASE, until, wav, tone, zip, toneDatasetZip, sampleClips, launch, uniqueEmail, signUp, shot };
