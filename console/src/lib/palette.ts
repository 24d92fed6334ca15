/**
 * Colours: the Okabe–Ito palette, distinguishable with the common colour-vision deficiencies.
 * Every colour is paired with text (legend labels, state words), never the only signal.
 */
export const OKABE_ITO = {
  orange: '#E69F00',
  skyBlue: '#56B4E9',
  bluishGreen: '#009E73',
  yellow: '#F0E442',
  blue: '#0072B2',
  vermillion: '#D55E00',
  reddishPurple: '#CC79A7',
  black: '#000000',
} as const;

/** GPU states on the fleet map. */
export const GPU_STATE_COLOURS = {
  free: '#D9D9D9',
  allocated: OKABE_ITO.blue,
  draining: OKABE_ITO.orange,
  down: OKABE_ITO.black,
  /** Held by fractional jobs (time-sliced shares or MIG instances) with room left. */
  'partly used': OKABE_ITO.skyBlue,
} as const;

/** Organisation colours on the fleet map, in order of first appearance; more orgs share "other". */
export const ORG_COLOURS: readonly string[] = [
  OKABE_ITO.orange,
  OKABE_ITO.skyBlue,
  OKABE_ITO.bluishGreen,
  OKABE_ITO.yellow,
  OKABE_ITO.blue,
  OKABE_ITO.vermillion,
  OKABE_ITO.reddishPurple,
];
export const OTHER_ORG_COLOUR = '#6E6E6E';
export const UNKNOWN_ORG_COLOUR = '#A8A8A8';

/** Chart series colours. */
export const SERIES = {
  allocated: OKABE_ITO.blue,
  total: OKABE_ITO.black,
  queued: OKABE_ITO.vermillion,
  running: OKABE_ITO.bluishGreen,
};
