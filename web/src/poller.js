// A poller: runs `fn` every `ms` (never two at once), skipped while paused or after a 429
// until its Retry-After; its errors go to the banner under its name.

import { state } from './state.js';
import { clearError, handleError } from './errors.js';

export class Poller {
  constructor(name, ms, fn) {
    Object.assign(this, { name, ms, fn, timer: null, busy: false, again: false, active: false });
  }
  start() {
    this.active = true;
    this.kick();
  }
  stop() {
    this.active = false;
    clearTimeout(this.timer);
    this.timer = null;
  }
  /** Runs now; `force` runs even while paused (an action of the user, not the feed). */
  kick(force = false) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.busy) {
      this.again = true;
      this.againForce = this.againForce || force;
    } else this.run(force);
  }
  async run(force = false) {
    if (!this.active) return;
    if ((force || !state.paused) && Date.now() >= state.retryUntil) {
      this.busy = true;
      try {
        await this.fn(force);
        clearError(this.name);
      } catch (e) {
        handleError(this.name, e);
      } finally {
        this.busy = false;
      }
    }
    if (!this.active) return;
    if (this.again) {
      const f = this.againForce;
      this.again = false;
      this.againForce = false;
      this.run(f);
    } else {
      this.timer = setTimeout(() => this.run(), this.ms);
    }
  }
}
