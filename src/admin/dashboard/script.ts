/** The dashboard's script: the client parts in order, in one strict-mode function scope. */
import { domJs } from './client/dom.js';
import { formatJs } from './client/format.js';
import { listenersJs } from './client/listeners.js';
import { pollJs } from './client/poll.js';
import { poolsJs } from './client/pools.js';
import { ratesJs } from './client/rates.js';
import { threadsJs } from './client/threads.js';

export const dashboardScript = ['(function () {', "'use strict';", formatJs, ratesJs, domJs, listenersJs, poolsJs, threadsJs, pollJs, 'poll();', '})();'].join('\n');
