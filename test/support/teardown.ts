/**
 * What a helper needs from a tap test: somewhere to register its clean-up.
 * One declaration for every helper (tap's Test satisfies it).
 */
export interface Teardown { teardown(fn: () => unknown): void }
