// Account page: create, list and revoke API tokens.
document.addEventListener('DOMContentLoaded', () => {
  'use strict';
  const { api, h, icon, toast, when } = window.SER;
  const $ = (id) => document.getElementById(id);

  async function load() {
    try {
      const { tokens } = await api('GET', '/api/tokens');
      $('tokens-empty').hidden = tokens.length > 0;
      $('tokens-table').hidden = tokens.length === 0;
      $('tokens-table').querySelector('tbody').replaceChildren(...tokens.map((t) => h('tr', {},
        h('td', { class: 'file' }, t.name),
        h('td', {}, when(t.created_at)),
        h('td', {}, t.last_used_at ? when(t.last_used_at) : 'never'),
        h('td', { class: 'right' }, h('button', { class: 'icon-btn danger', type: 'button', title: 'Revoke', 'aria-label': `Revoke ${t.name}`, onclick: () => revoke(t) }, icon('trash'))))));
    } catch (err) {
      toast(err.message, 'error');
    }
  }

  async function revoke(t) {
    if (!confirm(`Revoke the token “${t.name}”? Programs using it will stop working.`)) return;
    try { await api('DELETE', `/api/tokens/${t.id}`); toast('Token revoked.'); load(); } catch (err) { toast(err.message, 'error'); }
  }

  $('token-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('token-name').value.trim();
    if (!name) { toast('Give the token a name.', 'error'); return; }
    try {
      const res = await api('POST', '/api/tokens', { name });
      $('token-secret').textContent = res.secret;
      $('token-created').hidden = false;
      $('token-name').value = '';
      load();
    } catch (err) {
      toast(err.message, 'error');
    }
  });

  load();
});
