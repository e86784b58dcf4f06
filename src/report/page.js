(function () {
  'use strict';
  // Every id, class name and path comes from the data and is untrusted:
  // it is only ever inserted with textContent or as a property value.
  var SVG = 'http://www.w3.org/2000/svg';
  function byId(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  var meta = JSON.parse(byId('sa-meta').textContent);
  var rows = JSON.parse(byId('sa-images').textContent);
  var N = rows.length;
  var C = {};
  meta.row.forEach(function (name, i) { C[name] = i; });
  var K = meta.classes.length;

  // ---- formatting -------------------------------------------------------
  var intFmt = new Intl.NumberFormat('en-US');
  var DASH = '–';
  function fmtInt(v) { return typeof v !== 'number' ? DASH : intFmt.format(v); }
  function fmtScore(v) {
    if (typeof v !== 'number' || !isFinite(v)) return DASH;
    if (v === 0) return '0';
    return v.toPrecision(4);
  }
  function fmtPct(num, den) {
    if (!den) return DASH;
    var p = 100 * num / den;
    return (p === 0 ? '0' : p < 0.01 ? '<0.01' : p.toPrecision(3)) + ' %';
  }
  function fmtSeconds(v) {
    if (v === null || v === undefined) return DASH;
    return v < 10 ? v.toFixed(2) + ' s' : v < 600 ? v.toFixed(1) + ' s' : (v / 60).toFixed(1) + ' min';
  }
  function fmtBool(v) { return v === null || v === undefined ? DASH : v ? 'yes' : 'no'; }
  function className(k) {
    var c = meta.classes[k];
    return c && c.name ? k + ' ' + c.name : String(k);
  }
  function fmtClass(k) { return k === null || k === undefined ? DASH : className(k); }
  function fmtBytes(v) {
    if (!v) return '0';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toPrecision(3) : String(v)) + ' ' + u[i];
  }

  // ---- summary ----------------------------------------------------------
  function kv(dl, k, v) {
    dl.appendChild(el('dt', null, k));
    dl.appendChild(el('dd', null, v));
  }
  function card(k, v, sub) {
    var d = el('div', 'card');
    d.appendChild(el('div', 'v', v));
    d.appendChild(el('div', 'k', k));
    if (sub) d.appendChild(el('div', 'k', sub));
    byId('sa-cards').appendChild(d);
  }
  (function warnings() {
    var list = meta.warnings || [];
    if (!list.length) return;
    var box = byId('sa-warnings');
    box.appendChild(el('h2', null, list.length === 1 ? 'Warning' : 'Warnings'));
    var ul = el('ul');
    list.forEach(function (w) { ul.appendChild(el('li', null, w)); });
    box.appendChild(ul);
    box.hidden = false;
  })();

  (function summary() {
    var ds = meta.dataset, par = meta.parameters, tot = meta.totals, run = meta.run;
    var base = ds.labels.replace(/[/]+$/, '').split('/').pop() || ds.labels;
    document.title = 'segaudit report: ' + base;
    byId('sa-subtitle').textContent = fmtInt(N) + ' images · ' + ds.labels + ' · ' + ds.probs;
    var fl = tot.flag;
    if (fl.rule === 'none') {
      card('likely mislabeled', DASH, 'no flag rule (--flag-rule none)');
    } else {
      card('likely mislabeled', fmtInt(tot.flagged_images) + ' of ' + fmtInt(N) + ' images',
        fl.threshold === null
          ? 'too few images to tell what stands out'
          : 'largest issue region ' + (fl.rule === 'mass' ? 'mass' : 'area') + ' above ' +
            fmtScore(fl.threshold) + (fl.rule === 'mass' ? '' : ' px') + ' (flagged)');
    }
    card('images', fmtInt(N));
    card('images with issue pixels', fmtInt(tot.images_with_issues), fmtPct(tot.images_with_issues, N) + ' of the images; most hold a few pixels by chance');
    card('issue pixels', fmtInt(tot.issue_pixels), fmtPct(tot.issue_pixels, tot.valid_pixels) + ' of ' + fmtInt(tot.valid_pixels) + ' valid');
    card('n_issues', fmtInt(tot.n_issues), 'confident off-diagonal count');
    card('run time', fmtSeconds(run.seconds_total), run.threads + (run.threads === 1 ? ' thread' : ' threads'));
    if (tot.images_skipped) card('images skipped', fmtInt(tot.images_skipped), 'left out (--on-error skip); listed under Skipped images');

    var d = byId('sa-dataset');
    kv(d, 'labels folder', ds.labels);
    kv(d, 'label suffix', ds.label_suffix);
    kv(d, 'probs file', ds.probs);
    kv(d, 'probs dataset', ds.dataset);
    kv(d, 'shape (N, K, H, W)', [ds.shape.N, ds.shape.K, ds.shape.H, ds.shape.W].map(fmtInt).join(' × '));
    kv(d, 'dtype', ds.dtype);
    kv(d, 'layout', ds.layout);
    kv(d, 'image ids', {
      names: 'label file names, sorted as text',
      text: 'a text file (--ids)',
      index: 'the image indices',
      dataset: 'read from the probabilities file'
    }[ds.ids_source] || ds.ids_source);
    if (meta.evaluation) kv(d, 'truth file', meta.evaluation.truth);

    var p = byId('sa-params');
    kv(p, 'temperature', String(par.temperature));
    kv(p, 'downsample', par.downsample > 1 ? par.downsample + ' × ' + par.downsample + ' blocks, ' + par.downsample_labels + ' label' : 'none (pixels)');
    kv(p, 'ignore values', par.ignore_index.length ? par.ignore_index.join(', ') : 'none');
    kv(p, 'rank_by', par.rank_by);
    kv(p, 'flag_rule', par.flag_rule);
    kv(p, 'logits', par.logits ? 'yes (softmax applied)' : 'no (probabilities)');
    kv(p, 'min region area', fmtInt(par.min_region_area) + ' px');

    var r = byId('sa-run');
    kv(r, 'run time', fmtSeconds(run.seconds_total) + ' (pass 1 ' + fmtSeconds(run.seconds_pass1) + ', pass 2 ' + fmtSeconds(run.seconds_pass2) + ')');
    kv(r, 'threads', String(run.threads));
    kv(r, 'candidate records', fmtInt(run.candidate_records));
    kv(r, 'spilled to scratch', fmtBytes(run.spilled_bytes));
    kv(r, 'second read', run.second_read ? 'yes' : 'no');
    kv(r, 'segaudit', meta.version);
    byId('sa-footer').textContent = 'Written by segaudit ' + meta.version + '. Scores: lower = more likely mislabeled. Counts are pixels unless noted.';
  })();

  // ---- changes since an earlier audit (audit --compare) -----------------
  (function changes() {
    var ch = meta.changes;
    if (!ch) return;
    var s = ch.summary;
    byId('sa-changes-note').textContent = 'Compared with ' + ch.old + ': ' +
      fmtInt(s.relabeled) + ' relabeled images, ' + fmtInt(s.relabeled_clean) +
      ' now clean and ' + fmtInt(s.relabeled_flagged) + ' still with issue pixels; ' +
      fmtInt(s.moved) + ' other images moved through the class thresholds; ' +
      fmtInt(s.regions_fixed) + ' regions fixed, ' + fmtInt(s.regions_new) + ' new.' +
      (ch.images.length ? '' : ' No image changed.');
    smallTable(byId('sa-changes-table'), [
      { label: 'image', get: pick('image') },
      { label: 'status', get: pick('status') },
      { label: 'old rank', num: true, get: pick('old_rank'), fmt: fmtInt },
      { label: 'new rank', num: true, get: pick('new_rank'), fmt: fmtInt },
      { label: 'old issue px', num: true, get: pick('old_issue_pixels'), fmt: fmtInt },
      { label: 'new issue px', num: true, get: pick('new_issue_pixels'), fmt: fmtInt },
      { label: 'regions fixed', num: true, get: pick('regions_fixed'), fmt: fmtInt },
      { label: 'regions new', num: true, get: pick('regions_new'), fmt: fmtInt }
    ], ch.images, 3);
    byId('changes').hidden = false;
  })();

  // ---- histogram of the ranking score ----------------------------------
  (function histogram() {
    var name = meta.parameters.rank_by, c = C[name];
    byId('sa-hist-score').textContent = name;
    var vals = [], missing = 0, i;
    for (i = 0; i < N; i++) {
      var v = rows[i][c];
      if (v === null) missing++; else vals.push(v);
    }
    var note = fmtInt(vals.length) + ' images';
    if (missing) note += '; ' + fmtInt(missing) + ' without a score (no valid pixel) are not shown';
    byId('sa-hist-note').textContent = note + '.';
    if (!vals.length) return;
    var lo = Infinity, hi = -Infinity;
    for (i = 0; i < vals.length; i++) { if (vals[i] < lo) lo = vals[i]; if (vals[i] > hi) hi = vals[i]; }
    var B = hi > lo ? 30 : 1, width = hi - lo, counts = new Array(B).fill(0);
    for (i = 0; i < vals.length; i++) {
      var b = B === 1 ? 0 : Math.floor((vals[i] - lo) / width * B);
      counts[b >= B ? B - 1 : b]++;
    }
    var maxc = Math.max.apply(null, counts);
    var W = 760, H = 200, ml = 56, mr = 12, mt = 10, mb = 36, pw = W - ml - mr, ph = H - mt - mb;
    var s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img', 'aria-label': 'histogram of ' + name });
    var bw = pw / B;
    for (i = 0; i < B; i++) {
      var h = counts[i] ? Math.max(1, ph * counts[i] / maxc) : 0;
      var r = svg('rect', { 'class': 'bar', x: (ml + i * bw + 0.5).toFixed(2), y: (mt + ph - h).toFixed(2), width: Math.max(1, bw - 1).toFixed(2), height: h.toFixed(2) });
      var t = document.createElementNS(SVG, 'title');
      var a = lo + width * i / B, z = B === 1 ? hi : lo + width * (i + 1) / B;
      t.textContent = fmtInt(counts[i]) + ' images with ' + name + ' in [' + fmtScore(a) + ', ' + fmtScore(z) + (i === B - 1 ? ']' : ')');
      r.appendChild(t);
      s.appendChild(r);
    }
    s.appendChild(svg('line', { 'class': 'axis', x1: ml, y1: mt + ph + 0.5, x2: ml + pw, y2: mt + ph + 0.5 }));
    s.appendChild(svg('line', { 'class': 'axis', x1: ml - 0.5, y1: mt, x2: ml - 0.5, y2: mt + ph }));
    function label(x, y, text, anchor) {
      var e = svg('text', { x: x, y: y, 'text-anchor': anchor });
      e.textContent = text;
      s.appendChild(e);
    }
    label(ml, H - mb + 16, fmtScore(lo), 'start');
    if (B > 1) label(ml + pw / 2, H - mb + 16, fmtScore((lo + hi) / 2), 'middle');
    label(ml + pw, H - mb + 16, fmtScore(hi), 'end');
    label(ml + pw / 2, H - 4, name, 'middle');
    label(ml - 6, mt + 10, fmtInt(maxc), 'end');
    label(ml - 6, mt + ph, '0', 'end');
    byId('sa-hist').appendChild(s);
  })();

  // ---- generic small sortable table ------------------------------------
  // cols: {label, num, fmt, key(row) -> sort value, cls(row, value)}
  function sortRows(list, get, num, dir) {
    // Stable (Array.prototype.sort is), empty values last in both directions.
    list.sort(function (a, b) {
      var x = get(a), y = get(b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    });
  }
  // A header label that may break after its underscores (num_pixel_issues).
  function headLabel(text) {
    var span = el('span', 'lbl');
    text.split('_').forEach(function (part, i, all) {
      span.appendChild(document.createTextNode(i < all.length - 1 ? part + '_' : part));
      if (i < all.length - 1) span.appendChild(el('wbr'));
    });
    return span;
  }
  function headerRow(table, cols, onSort, extraClass) {
    var tr = table.tHead.rows[0];
    tr.replaceChildren();
    cols.forEach(function (col, j) {
      var th = el('th', col.num ? 'num' : null);
      if (extraClass && extraClass(col)) th.classList.add(extraClass(col));
      if (col.title) th.title = col.title;
      var b = el('button');
      b.type = 'button';
      b.appendChild(headLabel(col.label));
      b.appendChild(el('span', 'ind', ''));
      b.addEventListener('click', function () { onSort(j); });
      th.appendChild(b);
      tr.appendChild(th);
    });
  }
  function showSortState(table, sortCol, dir) {
    var ths = table.tHead.rows[0].cells;
    for (var j = 0; j < ths.length; j++) {
      var on = j === sortCol;
      ths[j].setAttribute('aria-sort', on ? (dir > 0 ? 'ascending' : 'descending') : 'none');
      ths[j].querySelector('.ind').textContent = on ? (dir > 0 ? '▲' : '▼') : '';
    }
  }
  function cell(tr, col, r) {
    var v = col.get(r);
    var td = el('td', col.num ? 'num' : null, col.fmt ? col.fmt(v) : v);
    if (v === null || v === undefined) td.classList.add('na');
    if (col.cls) { var x = col.cls(v); if (x) td.classList.add(x); }
    if (col.tip) td.title = td.textContent;
    tr.appendChild(td);
  }
  function smallTable(table, cols, data, initialCol) {
    var list = data.slice(), sortCol = initialCol === undefined ? -1 : initialCol, dir = 1;
    function render() {
      var frag = document.createDocumentFragment();
      list.forEach(function (r) {
        var tr = el('tr');
        cols.forEach(function (col) { cell(tr, col, r); });
        frag.appendChild(tr);
      });
      table.tBodies[0].replaceChildren(frag);
      showSortState(table, sortCol, dir);
    }
    headerRow(table, cols, function (j) {
      dir = j === sortCol ? -dir : 1;
      sortCol = j;
      sortRows(list, cols[j].get, cols[j].num, dir);
      render();
    });
    render();
  }
  function pick(key) { return function (r) { return r[key]; }; }

  // ---- classes, pairs, evaluation --------------------------------------
  smallTable(byId('sa-classes-table'), [
    { label: 'class', num: true, get: pick('class') },
    { label: 'name', get: pick('name') },
    { label: 'labeled pixels', num: true, get: pick('labeled_pixels'), fmt: fmtInt },
    { label: 'threshold', num: true, get: pick('threshold'), fmt: fmtScore, title: 'confident threshold t_k: mean self-confidence of the pixels labeled k' },
    { label: 'issue pixels given', num: true, get: pick('issue_pixels_given'), fmt: fmtInt, title: 'issue pixels labeled as this class' },
    { label: 'issue pixels predicted', num: true, get: pick('issue_pixels_predicted'), fmt: fmtInt, title: 'issue pixels predicted as this class' },
    { label: 'images affected', num: true, get: pick('images_affected'), fmt: fmtInt }
  ], meta.classes, 0);

  var totalIssues = meta.totals.issue_pixels;
  byId('sa-pairs-note').textContent = meta.pairs.length < meta.n_pairs
    ? 'The top ' + fmtInt(meta.pairs.length) + ' of ' + fmtInt(meta.n_pairs) + ' pairs by issue pixels.'
    : fmtInt(meta.n_pairs) + (meta.n_pairs === 1 ? ' pair.' : ' pairs, by issue pixels.');
  smallTable(byId('sa-pairs-table'), [
    { label: '#', num: true, get: pick(3) },
    { label: 'given', get: pick(0), fmt: fmtClass },
    { label: 'predicted', get: pick(1), fmt: fmtClass },
    { label: 'issue pixels', num: true, get: pick(2), fmt: fmtInt },
    { label: 'share', num: true, get: pick(2), fmt: function (v) { return fmtPct(v, totalIssues); } }
  ], meta.pairs.map(function (p, i) { return [p.given, p.predicted, p.issue_pixels, i + 1]; }), 0);

  if (meta.evaluation) {
    var ev = meta.evaluation;
    byId('evaluation').hidden = false;
    var nf = meta.totals.flagged_images;
    byId('sa-eval-note').textContent = fmtInt(ev.positives) + ' of ' + fmtInt(ev.images) +
      ' images are marked mislabeled (in the truth file, or by their error masks). Each score ranks the images ascending (ties in image order). ' +
      'Precision, recall and F1 are those of the ' + fmtInt(nf) + ' flagged images, and of each score\u2019s first ' + fmtInt(nf) + '.';
    function pr(key) { return function (r) { return r.pr[key]; }; }
    var evRows = ev.scores.map(function (e) { return { score: e.score, ap: e.ap, auroc: e.auroc, precision_at_p: e.precision_at_p, hits_at_10: e.hits_at_10, pr: e.at_flagged }; });
    evRows.push({ score: 'the flag', ap: null, auroc: null, precision_at_p: null, hits_at_10: null, pr: ev.flagged });
    smallTable(byId('sa-eval-table'), [
      { label: 'score', get: pick('score'), cls: function (v) { return v === meta.parameters.rank_by ? 'rankby' : null; } },
      { label: 'AP', num: true, get: pick('ap'), fmt: fmtScore, title: 'average precision: the mean, over the mislabeled images, of the precision down to each' },
      { label: 'AUROC', num: true, get: pick('auroc'), fmt: fmtScore, title: 'the chance that a mislabeled image ranks before a correct one' },
      { label: 'P@P', num: true, get: pick('precision_at_p'), fmt: fmtScore, title: 'precision among the first P images (P = mislabeled images)' },
      { label: 'hits in top 10', num: true, get: pick('hits_at_10'), fmt: fmtInt, title: 'mislabeled images among the first 10' },
    ].concat(prColumns(pr, 'mislabeled share of the flagged images (for a score: of its first ones, as many as are flagged)',
      'share of the mislabeled images that are flagged (or among a score\u2019s first ones)')), evRows);
    evalMasks(ev.masks);
  }

  // Precision, recall and F1 columns; get(key) reads them from a row.
  function prColumns(get, precisionTitle, recallTitle) {
    return [
      { label: 'precision', num: true, get: get('precision'), fmt: fmtScore, title: precisionTitle },
      { label: 'recall', num: true, get: get('recall'), fmt: fmtScore, title: recallTitle },
      { label: 'F1', num: true, get: get('f1'), fmt: fmtScore, title: 'harmonic mean of precision and recall' }
    ];
  }

  // Pixels and regions against the true error masks (--truth-masks), as
  // report.json's evaluation.masks holds them: {dir, images, pixels
  // {selected, hits, precision, recall, f1, issue_pixels, error_pixels},
  // regions {iou, regions, found, precision, error_regions,
  // error_regions_found, recall, f1}}.
  function evalMasks(m) {
    if (!m || typeof m !== 'object') return;
    var px = m.pixels && typeof m.pixels === 'object' ? m.pixels : {};
    var rg = m.regions && typeof m.regions === 'object' ? m.regions : {};
    var iou = typeof rg.iou === 'number' ? rg.iou : null;
    var tp = px.hits, ip = px.selected;
    var note = fmtInt(m.images) + ' images have a true error mask' + (typeof m.dir === 'string' ? ' (' + m.dir + ')' : '') + '. ' +
      'Pixels: the issue pixels against the error pixels. Regions: an issue region is correct, and a true error region found, ' +
      'when the two overlap with an IoU of at least ' + (iou === null ? DASH : String(iou)) + '.';
    byId('sa-eval-masks-note').textContent = note;
    smallTable(byId('sa-eval-masks-table'), [
      { label: 'compared', get: pick('what') },
      { label: 'found by segaudit', num: true, get: pick('found'), fmt: fmtInt, title: 'issue pixels, or issue regions' },
      { label: 'of them true errors', num: true, get: pick('correct'), fmt: fmtInt, title: 'issue pixels in the error masks, or issue regions that match a true error region' },
      { label: 'true errors', num: true, get: pick('errors'), fmt: fmtInt, title: 'pixels, or connected regions, of the true error masks' },
      { label: 'of them found', num: true, get: pick('caught'), fmt: fmtInt, title: 'error pixels that are issue pixels, or true error regions matched by an issue region' },
    ].concat(prColumns(pick, 'share of what segaudit found that is a true error',
      'share of the true errors that segaudit found')), [
      { what: 'pixels', found: ip, correct: tp, errors: px.error_pixels, caught: tp,
        precision: px.precision, recall: px.recall, f1: px.f1 },
      { what: 'regions' + (iou === null ? '' : ' (IoU \u2265 ' + iou + ')'), found: rg.regions, correct: rg.found, errors: rg.error_regions,
        caught: rg.error_regions_found, precision: rg.precision, recall: rg.recall, f1: rg.f1 }
    ]);
    byId('sa-eval-masks').hidden = false;
  }

  // ---- skipped images (--on-error skip) ---------------------------------
  (function skipped() {
    var list = Array.isArray(meta.skipped) ? meta.skipped : [];
    var total = Math.max(list.length, meta.totals.images_skipped || 0);
    if (!total) return;
    byId('sa-skipped-note').textContent = fmtInt(total) + (total === 1 ? ' image was left out (--on-error skip); it is' : ' images were left out (--on-error skip); they are') +
      ' not in the image table above' +
      (list.length < total ? '; the first ' + fmtInt(list.length) + ' are listed here, skipped.csv lists them all.' : '.');
    smallTable(byId('sa-skipped-table'), [
      { label: 'image', get: pick('image'), cls: function () { return 'id'; }, tip: true },
      { label: 'index', num: true, get: pick('index'), fmt: fmtInt, title: 'the image\u2019s index in the probabilities file' },
      { label: 'reason', get: pick('reason'), cls: function () { return 'wrap'; } }
    ], list);
    byId('skipped').hidden = false;
  })();

  // ---- the ranked image table ------------------------------------------
  var cols = [
    { name: 'rank', label: 'rank', num: true, fmt: fmtInt, title: 'rank by ' + meta.parameters.rank_by + ' (1 = most likely mislabeled)' },
    { name: 'image', label: 'image', num: false, title: 'the image id (click a row to see its overlay and regions; double-click it or press Enter to view the overlay large)' },
    { name: 'flagged', label: 'flagged', num: true, fmt: fmtBool, cls: function (v) { return v ? 'yes' : null; }, title: 'likely mislabeled: its largest issue region stands out from what the clean images show (README, \u201cThe flag\u201d)' },
    { name: 'softmin', label: 'softmin', num: true, fmt: fmtScore, title: 'softmin score: the mean self-confidence, weighted toward the least confident pixels (0 to 1; lower = more likely mislabeled)' },
    { name: 'num_pixel_issues', label: 'num_pixel_issues', num: true, fmt: fmtScore, title: 'a score, not a count: 1 − issue pixels / valid pixels (lower = more issue pixels)' },
    { name: 'issue_pixels', label: 'issue pixels', num: true, fmt: fmtInt, title: 'pixels whose label is likely wrong' },
    { name: 'valid_pixels', label: 'valid pixels', num: true, fmt: fmtInt, title: 'pixels whose label is not ignored' },
    { name: 'regions', label: 'regions', num: true, fmt: fmtInt, title: 'connected regions of issue pixels' },
    { name: 'largest_region', label: 'largest region', num: true, fmt: fmtInt, title: 'pixels in the largest region' },
    { name: 'region_mass', label: 'region mass', num: true, fmt: fmtScore, title: 'the largest, over the regions, of the sum of (p̂ − s): how many pixels\u2019 worth of confident disagreement it holds' }
  ];
  var baselineTitles = {
    mean_self_confidence: 'mean of s, the probability of the given label',
    min_self_confidence: 'lowest s of any pixel',
    pixel_accuracy: 'share of pixels whose label is the model\u2019s argmax',
    class_balanced_accuracy: 'pixel accuracy averaged over the labelled classes',
    mean_iou: 'mean IoU of the labels against the model\u2019s argmax'
  };
  var rankBy = meta.parameters.rank_by;
  meta.baselines.forEach(function (b) {
    cols.push({ name: b, label: b, num: true, fmt: fmtScore, extra: b !== rankBy, title: 'baseline score: ' + (baselineTitles[b] || b) + ' (lower = more likely mislabeled)' });
  });
  if (meta.evaluation) cols.push({ name: 'mislabeled', label: 'mislabeled', num: true, fmt: fmtBool, cls: function (v) { return v ? 'yes' : null; }, title: 'marked mislabeled in the truth file (or by its error mask)' });
  cols.forEach(function (col) {
    col.c = C[col.name];
    col.get = pick(col.c);
    // softmin is a key column when it ranks (the default); num_pixel_issues
    // always is.
    if (col.name === 'valid_pixels' || (col.name === 'softmin' && rankBy !== 'softmin')) col.extra = true;
  });

  var table = byId('sa-images-table'), tbody = table.tBodies[0];
  var order = new Array(N);
  for (var i0 = 0; i0 < N; i0++) order[i0] = i0; // rows come in rank order
  var view = order, page = 0, pageSize = 100, sortCol = 0, sortDir = 1, selected = -1;
  var lowerIds = null;
  var classSel = byId('sa-class'), search = byId('sa-search'), flaggedOnly = byId('sa-flagged');
  var moreCols = byId('sa-more');
  // The columns shown: the key ones (rank_by's score among them), plus the
  // valid pixels and the other scores with "more columns".
  var shown = cols;
  byId('sa-flagged-count').textContent = '(' + fmtInt(meta.totals.flagged_images) + ')';

  // The class filter: images with a listed region given or predicted as k.
  (function classOptions() {
    var count = new Array(K).fill(0), cc = C.classes, i, j;
    for (i = 0; i < N; i++) {
      var ks = rows[i][cc];
      for (j = 0; j < ks.length; j++) if (ks[j] < K) count[ks[j]]++;
    }
    for (var k = 0; k < K; k++) {
      var o = el('option', null, className(k) + ' (' + fmtInt(count[k]) + (count[k] === 1 ? ' image)' : ' images)'));
      o.value = String(k);
      if (!count[k]) o.disabled = true;
      classSel.appendChild(o);
    }
  })();

  function applyFilter() {
    var k = classSel.value === '' ? -1 : Number(classSel.value);
    var q = search.value.trim().toLowerCase();
    var fo = flaggedOnly.checked;
    if (k < 0 && !q && !fo) {
      view = order;
    } else {
      if (q && !lowerIds) {
        lowerIds = new Array(N);
        for (var i = 0; i < N; i++) lowerIds[i] = rows[i][C.image].toLowerCase();
      }
      var cc = C.classes;
      view = order.filter(function (i) {
        return (k < 0 || rows[i][cc].indexOf(k) >= 0) && (!q || lowerIds[i].indexOf(q) >= 0) &&
          (!fo || rows[i][C.flagged] === 1);
      });
    }
    page = 0;
    render();
  }

  function sortBy(j) {
    sortDir = j === sortCol ? -sortDir : 1;
    sortCol = j;
    var c = cols[j].c, keys = new Array(N);
    for (var i = 0; i < N; i++) keys[i] = rows[i][c];
    sortRows(order, function (i) { return keys[i]; }, cols[j].num, sortDir);
    applyFilter();
  }

  function pages() { return Math.max(1, Math.ceil(view.length / pageSize)); }

  function render() {
    if (page >= pages()) page = pages() - 1;
    var start = page * pageSize, end = Math.min(view.length, start + pageSize);
    var frag = document.createDocumentFragment(), idCol = shown.indexOf(cols[1]);
    for (var p = start; p < end; p++) {
      var i = view[p], r = rows[i], tr = document.createElement('tr');
      tr.dataset.i = String(i);
      tr.tabIndex = 0;
      if (i === selected) tr.className = 'sel';
      for (var j = 0; j < shown.length; j++) {
        cell(tr, shown[j], r);
        if (j === idCol) { tr.lastChild.classList.add('id'); tr.lastChild.title = r[C.image]; }
      }
      frag.appendChild(tr);
    }
    if (!view.length) {
      var empty = el('tr'), td = el('td', 'na', 'No image matches the filter.');
      td.colSpan = shown.length;
      empty.appendChild(td);
      frag.appendChild(empty);
    }
    tbody.replaceChildren(frag);
    showSortState(table, shown.indexOf(cols[sortCol]), sortDir);
    byId('sa-count').textContent = view.length === N
      ? fmtInt(N) + ' images'
      : fmtInt(view.length) + ' of ' + fmtInt(N) + ' images';
    byId('sa-page').textContent = view.length
      ? fmtInt(start + 1) + '–' + fmtInt(end) + ' (page ' + fmtInt(page + 1) + ' of ' + fmtInt(pages()) + ')'
      : 'no rows';
    byId('sa-first').disabled = byId('sa-prev').disabled = page === 0;
    byId('sa-next').disabled = byId('sa-last').disabled = page >= pages() - 1;
  }

  function showColumns() {
    shown = cols.filter(function (col) { return !col.extra || moreCols.checked; });
    table.classList.toggle('more', moreCols.checked);
    headerRow(table, shown, function (j) { sortBy(cols.indexOf(shown[j])); },
      function (col) { return col.name === rankBy ? 'rankby' : null; });
    render();
  }

  moreCols.addEventListener('change', showColumns);
  classSel.addEventListener('change', applyFilter);
  search.addEventListener('input', applyFilter);
  flaggedOnly.addEventListener('change', applyFilter);
  byId('sa-pagesize').addEventListener('change', function (e) {
    var first = page * pageSize;
    pageSize = Number(e.target.value);
    page = Math.floor(first / pageSize);
    render();
  });
  function go(p) { page = Math.max(0, Math.min(pages() - 1, p)); render(); }
  byId('sa-first').addEventListener('click', function () { go(0); });
  byId('sa-prev').addEventListener('click', function () { go(page - 1); });
  byId('sa-next').addEventListener('click', function () { go(page + 1); });
  byId('sa-last').addEventListener('click', function () { go(pages() - 1); });

  // ---- the selected image ----------------------------------------------
  function overlayUrl(id) {
    // Each path segment is URL-encoded, so ?, #, % and spaces stay literal.
    function enc(s) { return s.split('/').map(encodeURIComponent).join('/'); }
    return enc(meta.overlays) + '/' + enc(id) + '.png';
  }
  function noOverlay(box, text) { box.replaceChildren(el('p', 'muted no-overlay', text)); }
  // Why image i has no overlay to show, or null when it has one.
  function overlayMissing(i) {
    if (meta.overlays === null) return 'No overlay: this report was written without overlays (--top 0).';
    if (!rows[i][C.has_overlay]) return 'No overlay for this image: overlays are drawn for the top-ranked images only (--top).';
    return null;
  }

  function showDetail(i) {
    selected = i;
    var trs = tbody.rows;
    for (var t = 0; t < trs.length; t++) trs[t].classList.toggle('sel', trs[t].dataset.i === String(i));
    var r = rows[i], id = r[C.image];
    byId('sa-detail-title').textContent = id;
    byId('sa-detail-title').title = id;
    byId('sa-detail-hint').hidden = true;
    byId('sa-view').hidden = false;
    var d = byId('sa-detail-info');
    d.replaceChildren();
    kv(d, 'rank', fmtInt(r[C.rank]) + ' of ' + fmtInt(N));
    kv(d, 'flagged', r[C.flagged] ? 'yes: likely mislabeled' : 'no');
    kv(d, 'softmin', fmtScore(r[C.softmin]));
    if (rankBy !== 'softmin' && C[rankBy] !== undefined) kv(d, rankBy, fmtScore(r[C[rankBy]]));
    kv(d, 'num_pixel_issues', fmtScore(r[C.num_pixel_issues]));
    kv(d, 'issue pixels', fmtInt(r[C.issue_pixels]) + ' of ' + fmtInt(r[C.valid_pixels]) + ' valid');
    kv(d, 'regions', fmtInt(r[C.regions]) + (r[C.regions] ? ', largest ' + fmtInt(r[C.largest_region]) + ' px' : ''));
    if (meta.evaluation) kv(d, 'mislabeled (truth)', fmtBool(r[C.mislabeled]));

    var box = byId('sa-overlay'), why = overlayMissing(i);
    if (why) {
      noOverlay(box, why);
    } else {
      var fig = el('figure'), img = new Image(), b = el('button', 'thumb');
      img.alt = 'overlay of ' + id;
      img.decoding = 'async';
      img.addEventListener('error', function () {
        if (box.contains(img)) noOverlay(box, 'No overlay: the file could not be loaded.');
      });
      img.src = overlayUrl(id);
      b.type = 'button';
      b.title = 'view large, with zoom';
      b.appendChild(img);
      b.addEventListener('click', function () { openViewer(i); });
      fig.appendChild(b);
      fig.appendChild(el('figcaption', null, 'given labels · model argmax · issue pixels in red, regions boxed (click to enlarge)'));
      box.replaceChildren(fig);
    }

    var reg = byId('sa-regions'), list = r[C.region_list], listed = r[C.regions_listed];
    reg.replaceChildren();
    if (!listed) {
      reg.appendChild(el('p', 'muted', r[C.regions]
        ? 'No region is listed (all are smaller than ' + fmtInt(meta.parameters.min_region_area) + ' px).'
        : 'No issue region.'));
      return;
    }
    var hd = el('h3', null, 'Regions');
    reg.appendChild(hd);
    if (list.length < listed || listed < r[C.regions]) {
      var parts = [];
      if (list.length < listed) parts.push('the largest ' + fmtInt(list.length) + ' of ' + fmtInt(listed) + ' listed regions');
      if (listed < r[C.regions]) parts.push(fmtInt(r[C.regions] - listed) + ' smaller than ' + fmtInt(meta.parameters.min_region_area) + ' px not listed');
      reg.appendChild(el('p', 'muted', 'Showing ' + parts.join('; ') + '.'));
    }
    var tw = el('div', 'table-wrap short'), tb = el('table', 'data regions');
    tb.appendChild(el('thead')).appendChild(el('tr'));
    tb.appendChild(el('tbody'));
    tw.appendChild(tb);
    reg.appendChild(tw);
    // region: [area, x, y, width, height, given, predicted, mean s, mean p]
    smallTable(tb, [
      { label: '#', num: true, get: pick(9) },
      { label: 'area', num: true, get: pick(0), fmt: fmtInt },
      { label: 'box (x, y, w × h)', get: function (g) { return g[1] + ', ' + g[2] + ', ' + g[3] + '\u00a0×\u00a0' + g[4]; } },
      { label: 'given → predicted', get: function (g) { return className(g[5]) + ' → ' + className(g[6]); } },
      { label: 'mean s', num: true, get: pick(7), fmt: fmtScore, title: 'mean self-confidence' },
      { label: 'mean p̂', num: true, get: pick(8), fmt: fmtScore, title: 'mean probability of the predicted class' }
    ], list.map(function (g, j) { return g.concat([j + 1]); }), 0);
  }

  tbody.addEventListener('click', function (e) {
    var tr = e.target.closest('tr');
    if (tr && tr.dataset.i !== undefined) showDetail(Number(tr.dataset.i));
  });
  tbody.addEventListener('dblclick', function (e) {
    var tr = e.target.closest('tr');
    if (tr && tr.dataset.i !== undefined) openViewer(Number(tr.dataset.i));
  });
  tbody.addEventListener('keydown', function (e) {
    var tr = e.target.closest('tr');
    if (!tr || tr.dataset.i === undefined) return;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      showDetail(Number(tr.dataset.i));
      if (e.key === 'Enter') openViewer(Number(tr.dataset.i));
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      var next = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
      if (next && next.dataset.i !== undefined) {
        e.preventDefault();
        next.focus();
        showDetail(Number(next.dataset.i));
      }
    }
  });
  byId('sa-view').addEventListener('click', function () { if (selected >= 0) openViewer(selected); });

  // ---- the viewer: one overlay, large, with zoom and pan -----------------
  // A modal <dialog>.  It opens at "fit" (the whole overlay in the window,
  // scaled up or down); zoom keeps the point under the mouse (or the centre)
  // in place.  Previous and next follow the table's order (sort and
  // filters), turning its pages as needed.
  var viewer = byId('sa-viewer'), stage = byId('sa-v-stage');
  var vImg = null, vI = -1, zoom = 1, fitting = true, pan = null;
  var ZOOM_STEP = 1.25, ZOOM_MAX = 32, MAX_PX = 30000;

  function fitZoom() {
    var w = stage.clientWidth - 2, h = stage.clientHeight - 2;
    return Math.max(0.01, Math.min(w / vImg.naturalWidth, h / vImg.naturalHeight));
  }
  function zoomLimits() {
    var f = fitZoom();
    return [Math.min(f, 1) / 2, Math.max(f, Math.min(ZOOM_MAX, MAX_PX / vImg.naturalWidth, MAX_PX / vImg.naturalHeight))];
  }
  // Sets the zoom to z, keeping the image point at (cx, cy) (in the stage's
  // client coordinates; its centre when left out) where it is.
  function setZoom(z, cx, cy) {
    if (!vImg || !vImg.naturalWidth) return;
    var lim = zoomLimits();
    z = Math.max(lim[0], Math.min(lim[1], z));
    var sr = stage.getBoundingClientRect();
    if (cx === undefined) { cx = stage.clientWidth / 2; cy = stage.clientHeight / 2; }
    var ir = vImg.getBoundingClientRect();
    var fx = ir.width ? (sr.left + cx - ir.left) / ir.width : 0.5;
    var fy = ir.height ? (sr.top + cy - ir.top) / ir.height : 0.5;
    zoom = z;
    vImg.style.width = (vImg.naturalWidth * z).toFixed(1) + 'px';
    vImg.style.height = (vImg.naturalHeight * z).toFixed(1) + 'px';
    vImg.classList.toggle('up', z >= 1);
    ir = vImg.getBoundingClientRect();
    stage.scrollLeft += ir.left + fx * ir.width - (sr.left + cx);
    stage.scrollTop += ir.top + fy * ir.height - (sr.top + cy);
    stage.classList.toggle('pannable', stage.scrollWidth > stage.clientWidth || stage.scrollHeight > stage.clientHeight);
    byId('sa-v-zoom').textContent = (z * 100 < 10 ? (z * 100).toFixed(1) : Math.round(z * 100)) + ' %';
  }
  function zoomBy(f, cx, cy) { fitting = false; setZoom(zoom * f, cx, cy); }
  function zoomFit() { if (vImg && vImg.naturalWidth) { fitting = true; setZoom(fitZoom()); } }
  function zoomOne() { fitting = false; setZoom(1); }
  function zoomButtons(on) {
    ['sa-v-in', 'sa-v-out', 'sa-v-fit', 'sa-v-one'].forEach(function (b) { byId(b).disabled = !on; });
    if (!on) byId('sa-v-zoom').textContent = '';
  }

  function showInViewer(i) {
    vI = i;
    var r = rows[i], id = r[C.image], p = view.indexOf(i);
    byId('sa-v-title').textContent = id;
    byId('sa-v-title').title = id;
    byId('sa-v-pos').textContent = p >= 0 ? fmtInt(p + 1) + ' of ' + fmtInt(view.length) : '';
    byId('sa-v-prev').disabled = p <= 0;
    byId('sa-v-next').disabled = p < 0 || p >= view.length - 1;
    var info = ['rank ' + fmtInt(r[C.rank]), r[C.flagged] ? 'flagged' : 'not flagged',
      rankBy + ' ' + fmtScore(r[C[rankBy]]), fmtInt(r[C.issue_pixels]) + ' issue px',
      fmtInt(r[C.regions]) + (r[C.regions] === 1 ? ' region' : ' regions')];
    if (meta.evaluation) info.push(r[C.mislabeled] ? 'mislabeled (truth)' : 'correct (truth)');
    byId('sa-v-info').textContent = info.join(' · ');
    var why = overlayMissing(i);
    zoomButtons(false);
    vImg = null;
    if (why) { noOverlay(stage, why); return; }
    var img = new Image();
    img.alt = 'overlay of ' + id;
    img.draggable = false;
    img.addEventListener('load', function () {
      if (img !== vImg) return;
      zoomButtons(true);
      stage.scrollLeft = stage.scrollTop = 0;
      zoomFit();
    });
    img.addEventListener('error', function () {
      if (img === vImg) { vImg = null; noOverlay(stage, 'No overlay: the file could not be loaded.'); }
    });
    vImg = img;
    img.src = overlayUrl(id);
    stage.replaceChildren(img);
  }
  function openViewer(i) {
    if (selected !== i) showDetail(i);
    if (!viewer.open) viewer.showModal();
    showInViewer(i);
    byId('sa-v-close').focus();
  }
  // Moves by d in the table's order, and the table's page and selection
  // with it.
  function step(d) {
    var p = view.indexOf(vI) + d;
    if (p < 0 || p >= view.length || view.indexOf(vI) < 0) return;
    var i = view[p], pg = Math.floor(p / pageSize);
    if (pg !== page) { page = pg; render(); }
    showDetail(i);
    showInViewer(i);
  }
  // Closes the viewer and gives the focus to the selected row (or, when it
  // is not on the page, the detail's "View large" button).
  function closeViewer() {
    if (!viewer.open) return;
    viewer.close();
    var tr = tbody.querySelector('tr.sel');
    (tr || byId('sa-view')).focus();
  }

  byId('sa-v-prev').addEventListener('click', function () { step(-1); });
  byId('sa-v-next').addEventListener('click', function () { step(1); });
  byId('sa-v-in').addEventListener('click', function () { zoomBy(ZOOM_STEP); });
  byId('sa-v-out').addEventListener('click', function () { zoomBy(1 / ZOOM_STEP); });
  byId('sa-v-fit').addEventListener('click', zoomFit);
  byId('sa-v-one').addEventListener('click', zoomOne);
  byId('sa-v-close').addEventListener('click', closeViewer);
  viewer.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var k = e.key, done = true;
    if (k === 'Escape') closeViewer();
    else if (k === 'ArrowLeft' || k === 'PageUp') step(-1);
    else if (k === 'ArrowRight' || k === 'PageDown') step(1);
    else if (k === '+' || k === '=') zoomBy(ZOOM_STEP);
    else if (k === '-' || k === '_') zoomBy(1 / ZOOM_STEP);
    else if (k === '0') zoomFit();
    else if (k === '1') zoomOne();
    else done = false;
    if (done) e.preventDefault();
  });
  viewer.addEventListener('close', function () {
    if (viewer.open) return; // opened again since
    vImg = null;
    vI = -1;
    stage.replaceChildren();
  });
  // A click on the backdrop (outside the dialog's box) closes it.
  viewer.addEventListener('click', function (e) {
    if (e.target !== viewer) return;
    var b = viewer.getBoundingClientRect();
    if (e.clientX < b.left || e.clientX > b.right || e.clientY < b.top || e.clientY > b.bottom) closeViewer();
  });
  stage.addEventListener('wheel', function (e) {
    if (!vImg || !vImg.naturalWidth) return;
    e.preventDefault();
    var dy = e.deltaY * (e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1);
    var sr = stage.getBoundingClientRect();
    zoomBy(Math.max(0.5, Math.min(2, Math.pow(1.0015, -dy))), e.clientX - sr.left, e.clientY - sr.top);
  }, { passive: false });
  stage.addEventListener('pointerdown', function (e) {
    if (e.button !== 0 || !vImg) return;
    pan = { x: e.clientX, y: e.clientY, l: stage.scrollLeft, t: stage.scrollTop, id: e.pointerId };
    stage.setPointerCapture(e.pointerId);
    stage.classList.add('panning');
    e.preventDefault();
  });
  stage.addEventListener('pointermove', function (e) {
    if (!pan || e.pointerId !== pan.id) return;
    stage.scrollLeft = pan.l - (e.clientX - pan.x);
    stage.scrollTop = pan.t - (e.clientY - pan.y);
  });
  function endPan(e) {
    if (!pan || e.pointerId !== pan.id) return;
    pan = null;
    stage.classList.remove('panning');
  }
  stage.addEventListener('pointerup', endPan);
  stage.addEventListener('pointercancel', endPan);
  window.addEventListener('resize', function () { if (viewer.open && fitting) zoomFit(); });

  showColumns();
  if (N) showDetail(view[0]);
  window.segauditReport = { loadMs: performance.now(), images: N };
  document.body.dataset.ready = '1';
})();
