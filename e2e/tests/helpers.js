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
    buf.writeInt16LE(Math.round(Math.sin(phase) * 12000), 44 + i * 2);
  }
  return buf;
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

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

module.exports = { BASE, wav, launch, uniqueEmail, signUp, shot };
