-- One playback command, applied atomically to the hash KEYS[1] ({prefix}playback:{user}).
--
-- ARGV: 1 action (play|pause|resume|seek|stop|cue: load a track paused at a position, no listen), 2 now (ms since the epoch, the caller's clock),
--       3 command_id ("" = none; ids are [A-Za-z0-9_-]), 4 track_id, 5 duration_ms (0 = unknown), 6 position_ms,
--       7 device_id ("" = keep the current one; pause: "" = whatever plays, else only if that device
--         plays: the server pausing a device that went away), 8 listen_id (play: the new listen),
--       9 threshold_ms (play: heard time at which the new listen counts), 10 ttl seconds.
--
-- The stored position is an anchor: the position at updated_at. While playing, the current position is
-- anchor + (now - updated_at), capped at the duration; nothing is written while time passes.
--
-- Before the command, the running listen is "settled": the time played since updated_at is added to the
-- position and to heard_ms (capped at the end of the track; seeks never add to heard_ms). If heard_ms
-- then reaches threshold_ms for the first time, counted flips to 1 and the reply says so: that flip
-- happens once per listen, whatever the number of retries or processes.
--
-- Reply: {code, track_id, duration_ms, position_ms, is_playing, device_id, updated_at,
--         prior_listen_id, prior_track_id, prior_heard_ms, prior_advanced_ms, prior_crossed}
-- code: ok | duplicate (command_id already applied; nothing changed) | idle (nothing loaded) |
--       past_end (seek beyond the duration) | elsewhere (a pause for a device that is not the one playing).

local key = KEYS[1]
local action = ARGV[1]
local now = tonumber(ARGV[2])
local command_id = ARGV[3]

local raw = redis.call('HGETALL', key)
local s = {}
for i = 1, #raw, 2 do
  s[raw[i]] = raw[i + 1]
end
local track_id = s['track_id'] or ''
local duration = tonumber(s['duration_ms'] or '0')
local position = tonumber(s['position_ms'] or '0')
local playing = (s['is_playing'] == '1')
local device = s['device_id'] or ''
local updated = tonumber(s['updated_at'] or '0')
local listen = s['listen_id'] or ''
local heard = tonumber(s['heard_ms'] or '0')
local threshold = tonumber(s['threshold_ms'] or '0')
local counted = (s['counted'] == '1')

local function reply(code, advanced, crossed, prior_listen, prior_track, prior_heard)
  return {code, track_id, duration, position, playing and 1 or 0, device, updated,
          prior_listen, prior_track, prior_heard, advanced, crossed}
end

-- The last RECENT command ids are kept, space-separated, so a retry that arrives after another
-- device's command is still recognised.
local RECENT = 16
local recent = s['recent_commands'] or ''
if command_id ~= '' and string.find(' ' .. recent .. ' ', ' ' .. command_id .. ' ', 1, true) then
  return reply('duplicate', 0, 0, '', '', 0)
end
if track_id == '' and (action == 'pause' or action == 'resume' or action == 'seek') then
  return reply('idle', 0, 0, '', '', 0)
end
if action == 'pause' and ARGV[7] ~= '' and (device ~= ARGV[7] or not playing) then
  return reply('elsewhere', 0, 0, '', '', 0)
end
local target = tonumber(ARGV[6])
if action == 'seek' and duration > 0 and target > duration then
  return reply('past_end', 0, 0, '', '', 0)
end

-- Settle the running listen up to now.
local advanced = 0
if track_id ~= '' and playing then
  advanced = math.max(0, now - updated)
  if duration > 0 then
    advanced = math.min(advanced, math.max(0, duration - position))
  end
  position = position + advanced
  heard = heard + advanced
  if duration > 0 and position >= duration then
    playing = false
  end
end
local crossed = 0
if listen ~= '' and not counted and heard >= threshold then
  counted = true
  crossed = 1
end
local prior_listen, prior_track, prior_heard = listen, track_id, heard

-- updated_at never goes backwards (clients order events by it, and two servers' clocks may differ).
-- Not forced to grow either: a tick added per command would be time nobody heard.
updated = math.max(now, updated)

if action == 'play' then
  track_id = ARGV[4]
  duration = tonumber(ARGV[5])
  position = target
  playing = true
  if ARGV[7] ~= '' then device = ARGV[7] end
  listen = ARGV[8]
  heard = 0
  threshold = tonumber(ARGV[9])
  counted = false
elseif action == 'cue' then
  track_id = ARGV[4]
  duration = tonumber(ARGV[5])
  position = target
  playing = false
  if ARGV[7] ~= '' then device = ARGV[7] end
  listen, heard, threshold, counted = '', 0, 0, false
elseif action == 'pause' then
  playing = false
elseif action == 'resume' then
  playing = true
  if ARGV[7] ~= '' then device = ARGV[7] end
  if duration > 0 and position >= duration then playing = false end
elseif action == 'seek' then
  position = target
  if playing and duration > 0 and position >= duration then playing = false end
elseif action == 'stop' then
  track_id, duration, position, playing = '', 0, 0, false
  listen, heard, threshold, counted = '', 0, 0, false
else
  return redis.error_reply('unknown playback action ' .. action)
end

if command_id ~= '' then
  local ids = {}
  for id in string.gmatch(recent, '%S+') do ids[#ids + 1] = id end
  ids[#ids + 1] = command_id
  while #ids > RECENT do table.remove(ids, 1) end
  recent = table.concat(ids, ' ')
end

redis.call('HSET', key,
  'track_id', track_id, 'duration_ms', duration, 'position_ms', position,
  'is_playing', playing and '1' or '0', 'device_id', device, 'updated_at', updated,
  'listen_id', listen, 'heard_ms', heard, 'threshold_ms', threshold, 'counted', counted and '1' or '0',
  'recent_commands', recent)
redis.call('EXPIRE', key, tonumber(ARGV[10]))
return reply('ok', advanced, crossed, prior_listen, prior_track, prior_heard)
