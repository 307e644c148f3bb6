const test = require('node:test');
const assert = require('node:assert/strict');
const { BASE, launch, uniqueEmail, signUp, shot } = require('./helpers');

test('sign up with validation errors, sign out, sign in again', async () => {
  const { browser } = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE}/signup`);
    await shot(page, 'signup');
    // Bad email.
    await page.fill('input[name=name]', 'E2E User');
    await page.fill('input[name=email]', 'not-an-email');
    await page.fill('input[name=password]', 'correct-horse-9');
    await page.click('form button[type=submit]');
    await page.waitForSelector('.alert-error');
    assert.equal(await page.locator('input[name=email][aria-invalid="true"]').count(), 1, 'email marked invalid');
    // Short password.
    const email = uniqueEmail();
    await page.fill('input[name=name]', 'E2E User');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', 'short');
    await page.click('form button[type=submit]');
    await page.waitForSelector('.alert-error');
    assert.equal(await page.locator('input[name=password][aria-invalid="true"]').count(), 1, 'password marked invalid');
    await shot(page, 'signup-error');
    // Valid sign-up lands signed in.
    await signUp(page, email);
    await page.waitForSelector('form[action="/signout"]');
    await shot(page, 'home-signed-in');
    for (const p of ['training', 'testing', 'prediction', 'account']) {
      await page.goto(`${BASE}/${p}`);
      assert.equal(new URL(page.url()).pathname, `/${p}`);
      await shot(page, p);
    }
    // Sign out.
    await page.click('form[action="/signout"] button');
    await page.waitForSelector('a[href^="/signin"]');
    // Sign in again.
    await page.goto(`${BASE}/signin`);
    await shot(page, 'signin');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', 'correct-horse-9');
    await page.click('form button[type=submit]');
    await page.waitForSelector('form[action="/signout"]');
  } finally {
    await browser.close();
  }
});
