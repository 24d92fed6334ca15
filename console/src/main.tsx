/** Entry point of the gigafab web console. */
import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
performance.mark('console:rendered');
