// The fields of cobalt's case form: scalar fields by group, repeatable lists, and the order in
// which the page shows them (a clinician's history). Data only: app.js builds the form from it.
'use strict';

(function () {
  // Scalar fields of the case, by group. `choices` names a list of /ui/form.json.
  const SCALARS = [
    { legend: 'Patient', fields: [
      { path: 'id', label: 'Case identifier', type: 'text' },
      { path: 'as_of', label: 'Assessment date (empty: today)', type: 'date' },
      { path: 'patient.age_years', label: 'Age in years', type: 'number', min: 0, max: 130 },
      { path: 'patient.sex', label: 'Sex', type: 'choice', choices: 'patient.sex' },
      { path: 'patient.ethnicity', label: 'Family background (free text)', type: 'text' },
    ] },
    { legend: 'B12 replacement already given', fields: [
      { path: 'b12_replacement.status', label: 'Replacement', type: 'choice', choices: 'b12_replacement.status' },
      { path: 'b12_replacement.since', label: 'Since', type: 'date' },
      { path: 'b12_replacement.daily_dose_mcg', label: 'Daily dose (micrograms)', type: 'number', min: 0 },
    ] },
    { legend: 'Diet and life stage', fields: [
      { path: 'diet', label: 'Diet', type: 'choice', choices: 'diet' },
      { path: 'patient.pregnant', label: 'Pregnant', type: 'bool' },
      { path: 'patient.breastfeeding', label: 'Breastfeeding', type: 'bool' },
    ] },
    { legend: 'MRI', fields: [
      { path: 'mri.date', label: 'Date of the scan', type: 'date' },
      { path: 'mri.brain_normal', label: 'Brain imaged and normal', type: 'bool' },
      { path: 'mri.spinal_cord_normal', label: 'Spinal cord imaged and normal', type: 'bool' },
      { path: 'mri.new_lesion_on_follow_up', label: 'New lesion on a follow-up scan', type: 'bool' },
      { path: 'mri.spinal_cord_pattern.dorsal_columns_symmetric', label: 'Symmetric dorsal-column signal (“inverted V”)', type: 'bool' },
      { path: 'mri.spinal_cord_pattern.lateral_columns', label: 'Lateral-column signal', type: 'bool' },
      { path: 'mri.spinal_cord_pattern.longest_lesion_segments', label: 'Longest cord lesion (vertebral segments)', type: 'number', min: 0 },
      { path: 'mri.central_vein_sign.lesions_assessed', label: 'Central vein sign: lesions assessed', type: 'number', min: 0, step: 1 },
      { path: 'mri.central_vein_sign.lesions_positive', label: 'Central vein sign: lesions with a central vein', type: 'number', min: 0, step: 1 },
      { path: 'mri.paramagnetic_rim_lesions', label: 'Paramagnetic rim lesions', type: 'number', min: 0, step: 1 },
    ] },
    { legend: 'Optic nerve (OCT and visual evoked potentials)', fields: [
      { path: 'optic_nerve.oct_prnfl_intereye_difference_um', label: 'OCT pRNFL difference between the eyes (µm)', type: 'number', min: 0 },
      { path: 'optic_nerve.oct_gcipl_intereye_difference_um', label: 'OCT GCIPL difference between the eyes (µm)', type: 'number', min: 0 },
      { path: 'optic_nerve.vep_delayed', label: 'Visual evoked potential delayed (laboratory norms)', type: 'bool' },
    ] },
    { legend: 'Cerebrospinal fluid and MS history', fields: [
      { path: 'csf.oligoclonal_bands', label: 'Oligoclonal bands', type: 'choice', choices: 'csf.oligoclonal_bands' },
      { path: 'csf.kappa_flc_index', label: 'Kappa free light chain index', type: 'number', min: 0 },
      { path: 'ms.status', label: 'MS status before this assessment', type: 'choice', choices: 'ms.status' },
      { path: 'ms.attacks', label: 'Clinical attacks so far', type: 'number', min: 0, step: 1 },
      { path: 'ms.lesions_with_objective_clinical_evidence', label: 'Lesions with objective clinical evidence', type: 'number', min: 0, step: 1 },
      { path: 'ms.progression_months', label: 'Months of progression independent of relapse', type: 'number', min: 0 },
    ] },
  ];

  // Repeatable lists: each row is one object of the list.
  const LISTS = [
    { list: 'findings', legend: 'Symptoms and signs', noun: 'symptom or sign', add: 'Add a symptom or sign', fields: [
      { key: 'concept', label: 'Symptom or sign', type: 'concept' },
      { key: 'laterality', label: 'Side', type: 'choice', choices: 'findings.laterality' },
      { key: 'regions', label: 'Regions', type: 'multi', choices: 'findings.regions' },
      { key: 'onset', label: 'Onset', type: 'choice', choices: 'findings.onset' },
      { key: 'course', label: 'Course', type: 'choice', choices: 'findings.course' },
      { key: 'weeks', label: 'Duration (weeks)', type: 'number', min: 0 },
    ] },
    { list: 'labs', legend: 'Laboratory results', noun: 'result', add: 'Add a result', fields: [
      { key: 'test', label: 'Test', type: 'concept' },
      { key: 'comparator', label: 'Censored', type: 'choice', choices: 'labs.comparator' },
      { key: 'value', label: 'Value', type: 'number', min: 0 },
      { key: 'unit', label: 'Unit', type: 'unit' },
      { key: 'result', label: 'Qualitative result', type: 'choice', choices: 'labs.result' },
      { key: 'date', label: 'Date', type: 'date' },
      { key: 'reference_low', label: 'Laboratory range, low', type: 'number', min: 0 },
      { key: 'reference_high', label: 'Laboratory range, high', type: 'number', min: 0 },
    ] },
    { list: 'medications', legend: 'Medicines', noun: 'medicine', add: 'Add a medicine', fields: [
      { key: 'concept', label: 'Medicine', type: 'concept' },
      { key: 'months', label: 'Months taken', type: 'number', min: 0 },
      { key: 'daily_dose_mg', label: 'Daily dose (mg)', type: 'number', min: 0 },
      { key: 'current', label: 'Still taken', type: 'bool' },
      { key: 'ended', label: 'Stopped on (if no longer taken)', type: 'date' },
    ] },
    { list: 'conditions', legend: 'Conditions', noun: 'condition', add: 'Add a condition', fields: [
      { key: 'concept', label: 'Condition', type: 'concept' },
      { key: 'since', label: 'Since', type: 'date' },
    ] },
    { list: 'procedures', legend: 'Operations and procedures', noun: 'operation', add: 'Add an operation', fields: [
      { key: 'concept', label: 'Operation', type: 'concept' },
      { key: 'date', label: 'Date', type: 'date' },
    ] },
    { list: 'exposures', legend: 'Exposures', noun: 'exposure', add: 'Add an exposure', fields: [
      { key: 'concept', label: 'Exposure', type: 'concept' },
      { key: 'frequency', label: 'How often', type: 'text' },
      { key: 'last', label: 'Last exposure', type: 'date' },
    ] },
    { list: 'mri.lesions', legend: 'MRI lesions by region', noun: 'lesion region', add: 'Add a lesion region', fields: [
      { key: 'site', label: 'Region', type: 'choice', choices: 'mri.lesions.site' },
      { key: 'count', label: 'T2 lesions (3 mm or more)', type: 'number', min: 0, step: 1 },
      { key: 'enhancing', label: 'Of which enhancing', type: 'number', min: 0, step: 1 },
    ] },
  ];

  // The form in the order a clinician takes a history: who, symptoms and signs, results,
  // medicines and conditions, diet and life stage, then MRI, optic nerve and CSF.
  const ORDER = [
    'Patient', 'findings', 'labs', 'medications', 'B12 replacement already given', 'conditions',
    'procedures', 'exposures', 'Diet and life stage', 'MRI', 'mri.lesions',
    'Optic nerve (OCT and visual evoked potentials)', 'Cerebrospinal fluid and MS history',
  ];

  window.cobaltFields = Object.freeze({ SCALARS, LISTS, ORDER });
})();
