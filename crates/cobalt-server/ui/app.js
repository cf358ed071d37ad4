// cobalt's page for clinicians. Builds the case form from /ui/form.json (the case format's
// choices and the vocabulary), turns the form into a cobalt.case/1 document, posts it to
// /ui/assess and shows the reports that cobalt-report rendered on the server. No framework, no
// external assets: the service builds this file into its binary.
'use strict';

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // The form's fields, by group and list, and their order: ui/fields.js.
  const { SCALARS, LISTS, ORDER } = window.cobaltFields;

  let schema = null;
  let serial = 0;

  // A value id as words: `total_b12` → `total B12`.
  const words = (s) => String(s).split('_').map((w) => (w === 'b12' ? 'B12' : w)).join(' ');

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children || []) e.append(c);
    return e;
  }

  function options(select, values, labelOf, blank) {
    select.replaceChildren(el('option', { value: '', text: blank }));
    for (const v of values) select.append(el('option', { value: v, text: labelOf(v) }));
  }

  // One control with its label. `attrs` carries data-path (scalars) or data-key (list rows).
  function control(f, attrs, listName) {
    const id = 'f' + (++serial);
    const wrap = el('div', { class: 'field field-' + f.type });
    let input;
    if (f.type === 'choice' || f.type === 'bool' || f.type === 'concept' || f.type === 'unit') {
      input = el('select', Object.assign({ id }, attrs));
      if (f.type === 'choice') options(input, schema.choices[f.choices], words, 'not recorded');
      if (f.type === 'bool') options(input, ['true', 'false'], (v) => (v === 'true' ? 'yes' : 'no'), 'not recorded');
      if (f.type === 'concept') {
        const concepts = schema.concepts[listName];
        input.replaceChildren(el('option', { value: '', text: 'choose…' }));
        for (const c of concepts) input.append(el('option', { value: c.id, text: c.label }));
      }
      if (f.type === 'unit') options(input, [], (v) => v, 'unit');
    } else if (f.type === 'multi') {
      const set = el('fieldset', Object.assign({ class: 'multi' }, attrs));
      set.append(el('legend', { text: f.label }));
      for (const v of schema.choices[f.choices]) {
        const cid = 'f' + (++serial);
        set.append(el('span', { class: 'check' }, [
          el('input', { type: 'checkbox', id: cid, value: v }),
          el('label', { for: cid, text: words(v) }),
        ]));
      }
      wrap.append(set);
      return wrap;
    } else {
      input = el('input', Object.assign({ id, type: f.type === 'number' ? 'number' : f.type }, attrs));
      if (f.type === 'number') {
        input.setAttribute('step', f.step || 'any');
        if (f.min !== undefined) input.setAttribute('min', f.min);
        if (f.max !== undefined) input.setAttribute('max', f.max);
        input.setAttribute('inputmode', 'decimal');
      }
    }
    wrap.prepend(el('label', { for: id, text: f.label }));
    wrap.append(input);
    return wrap;
  }

  function buildForm() {
    const sections = $('#sections');
    for (const name of ORDER) {
      const group = SCALARS.find((g) => g.legend === name);
      if (group) {
        const set = el('fieldset', {}, [el('legend', { text: group.legend })]);
        const grid = el('div', { class: 'grid' });
        for (const f of group.fields) grid.append(control(f, { 'data-path': f.path }));
        set.append(grid);
        sections.append(set);
        continue;
      }
      const spec = LISTS.find((l) => l.list === name);
      const rows = el('div', { class: 'rows', 'data-rows': spec.list });
      const add = el('button', { type: 'button', 'data-add': spec.list, text: spec.add });
      add.addEventListener('click', () => {
        const row = addRow(spec);
        const first = row.querySelector('select, input');
        if (first) first.focus();
      });
      sections.append(el('fieldset', { class: 'list' }, [el('legend', { text: spec.legend }), rows, add]));
    }
  }

  function addRow(spec) {
    const rows = $(`[data-rows="${spec.list}"]`);
    const row = el('div', { class: 'row', 'data-list': spec.list, role: 'group' });
    const n = rows.children.length + 1;
    row.setAttribute('aria-label', `${spec.legend}: ${spec.noun} ${n}`);
    const listName = spec.list.split('.').pop();
    for (const f of spec.fields) row.append(control(f, { 'data-key': f.key }, listName));
    const remove = el('button', { type: 'button', class: 'remove', text: 'Remove', 'aria-label': `Remove ${spec.noun} ${n}` });
    remove.addEventListener('click', () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      (next ? next.querySelector('select, input') : $(`[data-add="${spec.list}"]`)).focus();
    });
    row.append(remove);
    if (spec.list === 'labs') {
      const test = row.querySelector('[data-key="test"]');
      test.addEventListener('change', () => labKind(row));
      labKind(row);
    }
    rows.append(row);
    return row;
  }

  // A lab row offers the units its test can be reported in, or a qualitative result.
  function labKind(row) {
    const test = row.querySelector('[data-key="test"]').value;
    const analyte = schema.analytes[test];
    const units = analyte ? analyte.units : [];
    const qualitative = !!test && units.length === 0;
    const unit = row.querySelector('[data-key="unit"]');
    const keep = unit.value;
    options(unit, units, (v) => v, 'unit');
    if (units.includes(keep)) unit.value = keep;
    else if (units.length === 1) unit.value = units[0];
    for (const k of ['value', 'unit', 'comparator', 'reference_low', 'reference_high']) {
      row.querySelector(`[data-key="${k}"]`).disabled = qualitative;
    }
    row.querySelector('[data-key="result"]').disabled = !!test && !qualitative;
  }

  function setPath(obj, path, value) {
    const parts = path.split('.');
    let o = obj;
    for (const p of parts.slice(0, -1)) o = o[p] = o[p] || {};
    o[parts[parts.length - 1]] = value;
  }

  function getPath(obj, path) {
    return path.split('.').reduce((o, p) => (o == null ? undefined : o[p]), obj);
  }

  // The value of a control, typed; undefined when empty. A number the browser cannot read is
  // sent as text so that the service names the field in its error.
  function read(input, type) {
    if (type === 'multi') {
      const v = $$('input:checked', input).map((c) => c.value);
      return v.length ? v : undefined;
    }
    if (input.disabled) return undefined;
    const raw = input.value.trim();
    if (raw === '') {
      if (input.type === 'number' && input.validity && input.validity.badInput) return 'not a number';
      return undefined;
    }
    if (type === 'bool') return raw === 'true';
    if (type === 'number') {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    return raw;
  }

  function formToCase() {
    const c = { format: schema.format };
    for (const group of SCALARS) {
      for (const f of group.fields) {
        const v = read($(`[data-path="${f.path}"]`), f.type);
        if (v !== undefined) setPath(c, f.path, v);
      }
    }
    for (const spec of LISTS) {
      const items = $$(`.row[data-list="${spec.list}"]`).map((row) => {
        const item = {};
        for (const f of spec.fields) {
          const v = read(row.querySelector(`[data-key="${f.key}"]`), f.type);
          if (v !== undefined) item[f.key] = v;
        }
        return item;
      }).filter((item) => Object.keys(item).length > 0);
      if (items.length) setPath(c, spec.list, items);
    }
    return c;
  }

  function write(input, type, v) {
    if (type === 'multi') {
      for (const c of $$('input', input)) c.checked = Array.isArray(v) && v.includes(c.value);
    } else if (v === undefined || v === null) {
      input.value = '';
    } else {
      input.value = String(v);
    }
  }

  function clearForm() {
    for (const spec of LISTS) $(`[data-rows="${spec.list}"]`).replaceChildren();
    for (const group of SCALARS) for (const f of group.fields) write($(`[data-path="${f.path}"]`), f.type, undefined);
  }

  // Fills the form from a cobalt.case/1 document. Returns what the form has no control for.
  function caseToForm(c) {
    clearForm();
    const notes = [];
    const known = new Set(['format']);
    for (const group of SCALARS) {
      for (const f of group.fields) {
        write($(`[data-path="${f.path}"]`), f.type, getPath(c, f.path));
        known.add(f.path.split('.')[0]);
      }
    }
    for (const spec of LISTS) {
      known.add(spec.list.split('.')[0]);
      for (const item of getPath(c, spec.list) || []) {
        if (item.code && !item.concept && !item.test) {
          notes.push(`a ${spec.noun} given by code (${item.code.system} ${item.code.code})`);
          continue;
        }
        const row = addRow(spec);
        for (const f of spec.fields) {
          const input = row.querySelector(`[data-key="${f.key}"]`);
          write(input, f.type, item[f.key]);
          if (spec.list === 'labs' && f.key === 'test') labKind(row);
        }
      }
    }
    const unknown = Object.keys(c).filter((k) => !known.has(k));
    if (unknown.length) notes.push('fields ' + unknown.join(', '));
    return notes;
  }

  function say(msg) {
    $('#status').textContent = msg;
  }

  function showError(msg, path) {
    const box = $('#error');
    box.hidden = false;
    box.textContent = msg;
    for (const i of $$('[aria-invalid="true"]')) {
      i.removeAttribute('aria-invalid');
      i.removeAttribute('aria-describedby');
    }
    const target = path && controlFor(path);
    if (target) {
      target.setAttribute('aria-invalid', 'true');
      target.setAttribute('aria-describedby', 'error');
      target.focus();
    }
  }

  // The form control behind a JSON path such as labs[2].value or patient.age_years.
  function controlFor(path) {
    const m = /^(?:\$\.)?([a-z_.]+?)\[(\d+)\]\.([a-z_]+)/.exec(path);
    if (m) {
      const row = $$(`.row[data-list="${m[1]}"]`)[Number(m[2])];
      return row && row.querySelector(`[data-key="${m[3]}"]`);
    }
    const s = /^(?:\$\.)?([a-z_.]+)$/.exec(path);
    return s && $(`[data-path="${s[1]}"]`);
  }

  const GLANCE = [
    ['b12_status', 'B12 status', (c) => words(c.b12_status)],
    ['causes', 'Likely causes', (c, label) => (c.causes.length ? c.causes.map(label).join(', ') : 'none recorded')],
    ['picture', 'Picture', (c) => words(c.picture)],
    ['next_tests', 'Next tests', (c, label) => (c.next_tests.length ? c.next_tests.map(label).join(', ') : 'none')],
    ['treatment', 'Treatment', (c) => words(c.treatment.route) + (c.treatment.urgent ? ' (urgent)' : '')],
    ['referrals', 'Referrals', (c, label) => (c.referrals.length ? c.referrals.map(label).join(', ') : 'none')],
    ['mcdonald_2024', 'McDonald 2024 / 2017 met', (c) => [c.mcdonald_2024.met, c.mcdonald_2017.met].map(yn).join(' / ')],
  ];

  const yn = (v) => (v === true ? 'yes' : v === false ? 'no' : 'not enough data');

  function labelOf(id) {
    for (const list of Object.values(schema.concepts)) {
      const c = list.find((x) => x.id === id);
      if (c) return c.label;
    }
    return words(id);
  }

  function showResult(data) {
    const c = data.assessment.conclusions;
    const glance = $('#glance');
    glance.replaceChildren();
    const dl = el('dl', { class: 'glance' });
    for (const [key, label, fmt] of GLANCE) {
      const raw = key === 'treatment' ? c.treatment.route : key === 'mcdonald_2024' ? String(c.mcdonald_2024.met) : Array.isArray(c[key]) ? c[key].join(' ') : c[key];
      const cls = key === 'treatment' && c.treatment.urgent ? 'urgent' : key === 'b12_status' ? 'status-' + c.b12_status : '';
      dl.append(el('div', { class: 'item ' + cls, 'data-conclusion': key, 'data-value': raw }, [
        el('dt', { text: label }),
        el('dd', { text: fmt(c, labelOf) }),
      ]));
    }
    glance.append(dl);
    glance.hidden = false;
    $('#view-clinician').innerHTML = data.report_html;
    $('#view-patient').innerHTML = data.patient_html;
    $('#views').hidden = false;
    $('#error').hidden = true;
    select($('#tab-clinician'), false);
    say(`Assessed${data.assessment.id ? ' ' + data.assessment.id : ''}: B12 status ${words(c.b12_status)}${c.treatment.urgent ? ', treatment urgent' : ''}.`);
    $('#results').scrollIntoView();
    $('#results').focus({ preventScroll: true });
  }

  // Results never outlive what they were computed from: they are removed before every new
  // assessment (so an error never sits beside an earlier patient's report) and as soon as the
  // form they came from changes.
  let resultsFrom = null;
  function clearResults() {
    resultsFrom = null;
    $('#glance').replaceChildren();
    $('#glance').hidden = true;
    $('#view-clinician').replaceChildren();
    $('#view-patient').replaceChildren();
    $('#views').hidden = true;
    $('#source').hidden = true;
  }

  async function assess(body, from) {
    clearResults();
    say('Assessing…');
    const headers = { 'Content-Type': 'application/json' };
    const token = $('#token').value.trim();
    if (token) headers.Authorization = 'Bearer ' + token;
    let r;
    try {
      r = await fetch('/ui/assess', { method: 'POST', headers, body });
    } catch (e) {
      say('');
      showError('The service could not be reached: ' + e.message);
      return;
    }
    if (r.ok) {
      showResult(await r.json());
      resultsFrom = from;
      $('#source').textContent = from === 'form'
        ? (launched ? launchedSource() : 'These results are for the case in the form.')
        : 'These results are for the pasted JSON. The form was replaced by the pasted case, or cleared when it was a FHIR Bundle.';
      $('#source').hidden = false;
      return;
    }
    say('');
    if (r.status === 401) {
      showError(launched
        ? 'Your session with the EHR has ended. Open cobalt again from the patient’s chart.'
        : 'The service asks for a sign-in token (401). Enter one under “Access token”, or ask your administrator.');
      return;
    }
    const problem = await r.json().catch(() => ({}));
    if (problem.path) showError(`Not assessed: ${problem.path}: ${problem.message}`, problem.path);
    else showError(`Not assessed (${r.status}): ${problem.message || problem.error || r.statusText}`);
  }

  // ---- Launched from the EHR (SMART App Launch) ----
  // The service holds the EHR's token; the page only has an HttpOnly session cookie, which
  // fetch sends to this origin. The form is filled with what was read; a value the clinician
  // changes or adds is theirs, and the page says so.
  let launched = null;

  const controls = () => $$('#sections select, #sections input');

  function valueOf(c) {
    return c.type === 'checkbox' ? String(c.checked) : c.value;
  }

  function markFromRecord() {
    for (const c of controls()) {
      c.dataset.recordValue = valueOf(c);
      mark(c);
    }
  }

  function labelText(c) {
    const set = c.closest('fieldset.multi');
    if (set) return set.querySelector('legend').textContent;
    const l = c.id && $(`label[for="${c.id}"]`);
    return l ? l.firstChild.textContent : c.name || '';
  }

  // A control is the clinician's when its value differs from what the record gave (a new row's
  // controls gave nothing).
  function mark(c) {
    if (!launched) return;
    const wrap = c.closest('.field');
    if (!wrap) return;
    const fromRecord = c.dataset.recordValue !== undefined ? c.dataset.recordValue : (c.type === 'checkbox' ? 'false' : '');
    const mine = valueOf(c) !== fromRecord;
    c.dataset.origin = mine ? 'clinician' : 'record';
    const anyMine = $$('select, input', wrap).some((x) => x.dataset.origin === 'clinician');
    const badge = $('.yours', wrap);
    if (anyMine && !badge) {
      const target = $('label', wrap) || $('legend', wrap);
      if (target) target.append(el('span', { class: 'yours', text: 'entered by you' }));
    } else if (!anyMine && badge) {
      badge.remove();
    }
  }

  function yours() {
    const seen = new Set();
    for (const c of controls()) {
      if (c.dataset.origin === 'clinician' && valueOf(c) !== '' && valueOf(c) !== 'false') seen.add(labelText(c));
    }
    return Array.from(seen);
  }

  function launchedSource() {
    const mine = yours();
    return mine.length
      ? `These results are for the record read from the EHR, with ${mine.length} value${mine.length > 1 ? 's' : ''} you entered: ${mine.join(', ')}.`
      : 'These results are for the record read from the EHR.';
  }

  function showRecord(data) {
    const tbody = $('#record-table tbody');
    tbody.replaceChildren();
    let used = 0;
    for (const item of data.read) {
      if (item.status === 'used') used++;
      tbody.append(el('tr', { class: item.status, 'data-reference': item.reference }, [
        el('td', { text: item.reference }),
        el('td', { text: item.label || '—' }),
        el('td', { text: item.date ? item.date.slice(0, 10) : '—' }),
        el('td', { text: item.status === 'used' ? 'yes' : 'no' }),
        el('td', { text: item.reason || '' }),
      ]));
    }
    $('#record-summary').textContent = `${data.read.length} resource${data.read.length === 1 ? '' : 's'} read from ${data.fhir_server}: ${used} used, ${data.read.length - used} not used.`;
    $('#record').hidden = false;
  }

  async function loadLaunch() {
    say('Reading the patient’s record from the EHR…');
    let r;
    try {
      r = await fetch('/smart/record', { headers: { Accept: 'application/json' } });
    } catch (e) {
      say('');
      showError('The service could not be reached: ' + e.message);
      return;
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      say('');
      showError(data.message || `The record could not be read (${r.status}).`);
      return;
    }
    launched = data;
    const notes = caseToForm(data.case);
    markFromRecord();
    showResult(data);
    resultsFrom = 'form';
    const user = data.user ? `, signed in as ${data.user}` : '';
    $('#launched').textContent = `Opened from the EHR for patient ${data.patient} (${data.fhir_server})${user}. The form holds what was read; add what the record lacks and choose “Assess” again.`;
    $('#launched').hidden = false;
    $('#source').textContent = launchedSource();
    $('#source').hidden = false;
    showRecord(data);
    $('#record-notes').textContent = notes.length ? 'In the assessment above but not in the form: ' + notes.join('; ') + '.' : '';
  }

  function select(tab, focus) {
    for (const t of $$('[role="tab"]')) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $('#' + t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
  }

  function wire() {
    $('#case-form').addEventListener('submit', (e) => {
      e.preventDefault();
      assess(JSON.stringify(formToCase()), 'form');
    });
    const changed = () => {
      if (resultsFrom === null) return;
      clearResults();
      say('The form changed: choose “Assess” for results that match it.');
    };
    $('#case-form').addEventListener('input', changed);
    $('#case-form').addEventListener('change', changed);
    const marking = (e) => { if (e.target.matches('select, input')) mark(e.target); };
    $('#case-form').addEventListener('input', marking);
    $('#case-form').addEventListener('change', marking);
    $('#case-form').addEventListener('click', (e) => {
      if (e.target.closest('[data-add], .remove')) changed();
    });
    $('#clear').addEventListener('click', () => {
      clearForm();
      clearResults();
      say('The form is empty.');
    });
    $('#assess-pasted').addEventListener('click', () => {
      // The form must not show another patient beside these results: it takes the pasted case,
      // or is cleared for a FHIR Bundle (or anything the form cannot hold).
      const text = $('#paste-text').value;
      let c = null;
      try {
        c = JSON.parse(text);
      } catch (e) {
        c = null;
      }
      if (c && c.case && c.case.format) c = c.case;
      if (c && c.format === schema.format) caseToForm(c);
      else clearForm();
      assess(text, 'paste');
    });
    $('#load-pasted').addEventListener('click', () => {
      let c;
      try {
        c = JSON.parse($('#paste-text').value);
      } catch (e) {
        showError('The pasted text is not JSON: ' + e.message);
        return;
      }
      if (c && c.case && c.case.format) c = c.case;
      if (!c || c.format !== schema.format) {
        showError(`Only a ${schema.format} document can be loaded into the form; assess a FHIR Bundle directly.`);
        return;
      }
      const notes = caseToForm(c);
      $('#error').hidden = true;
      say('The case is in the form.' + (notes.length ? ' Not in the form: ' + notes.join('; ') + '.' : ''));
    });
    $('#upload').addEventListener('change', async (e) => {
      const f = e.target.files[0];
      if (f) $('#paste-text').value = await f.text();
    });
    const tabs = $$('[role="tab"]');
    for (const t of tabs) {
      t.addEventListener('click', () => select(t, false));
      t.addEventListener('keydown', (e) => {
        const i = tabs.indexOf(t);
        if (e.key === 'ArrowRight') select(tabs[(i + 1) % tabs.length], true);
        else if (e.key === 'ArrowLeft') select(tabs[(i + tabs.length - 1) % tabs.length], true);
        else return;
        e.preventDefault();
      });
    }
    $('#print').addEventListener('click', () => window.print());
  }

  async function start() {
    try {
      const r = await fetch('/ui/form.json');
      schema = await r.json();
    } catch (e) {
      $('#form-loading').textContent = 'The form could not be loaded: ' + e.message;
      return;
    }
    $('#disclaimer').textContent = schema.disclaimer;
    buildForm();
    wire();
    $('#form-loading').remove();
    $('#case-form').hidden = false;
    if (new URLSearchParams(window.location.search).get('launch') === 'smart') await loadLaunch();
    document.body.dataset.ready = 'true';
  }

  document.addEventListener('DOMContentLoaded', start);
})();
