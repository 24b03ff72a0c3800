package sqlscope

import "strings"

// builtinFunctions are the pg_catalog functions an agent may call: pure
// computations over their arguments (arithmetic, text, date/time, JSON,
// arrays, aggregates, window functions, casts written as calls). A function
// belongs here only if no overload of its name reads files, runs SQL from a
// string, opens connections, signals backends, changes settings, touches
// sequences, large objects, advisory locks or notifications, or reveals
// catalog contents beyond what the grant already shows. A test checks every
// name against a live server: each overload must exist and be immutable or
// stable, or be on volatileReviewed.
//
// Deliberately absent (an admin may still add one per resource with
// ExtraFunctions): current_setting and set_config (read and change
// settings), version, pg_backend_pid and friends (server details),
// has_*_privilege, pg_get_*def, obj_description, to_reg* and the reg* types
// (catalog oracles), pg_*_size on relations, txid_* and pg_current_xact_id,
// setseed, nextval/currval/setval/lastval, pg_sleep*, pg_advisory*,
// pg_notify, lo_*, dblink*, query_to_xml and every XML function, array_fill
// and space (memory in one call), factorial.
var builtinFunctions = setOf(`
abs acos acosd asin asind atan atan2 atan2d atand cbrt ceil ceiling cos cosd cosh cot cotd
degrees div exp floor gcd lcm ln log log10 min_scale mod pi power radians round scale
sign sin sind sinh sqrt tan tand tanh trim_scale trunc width_bucket random erf erfc

ascii bit_length btrim char_length character_length chr concat concat_ws format initcap
left length lower lpad ltrim md5 octet_length overlay position quote_ident quote_literal
quote_nullable regexp_count regexp_instr regexp_like regexp_match regexp_matches
regexp_replace regexp_split_to_array regexp_split_to_table regexp_substr repeat replace
reverse right rpad rtrim split_part starts_with strpos substr substring to_hex translate
upper sha224 sha256 sha384 sha512 encode decode string_to_array string_to_table
array_to_string normalize is_normalized unistr similar_to_escape like_escape
convert_from convert_to bit_count get_bit get_byte

age clock_timestamp date_bin date_part date_trunc extract isfinite
justify_days justify_hours justify_interval make_date
make_interval make_time make_timestamp make_timestamptz now statement_timestamp
timeofday timezone to_char to_date to_number to_timestamp transaction_timestamp overlaps

to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array
json_build_object jsonb_build_object json_object jsonb_object json_array_length
jsonb_array_length json_extract_path jsonb_extract_path json_extract_path_text
jsonb_extract_path_text json_typeof jsonb_typeof json_strip_nulls jsonb_strip_nulls
jsonb_pretty jsonb_set jsonb_set_lax jsonb_insert json_each jsonb_each json_each_text
jsonb_each_text json_array_elements jsonb_array_elements json_array_elements_text
jsonb_array_elements_text json_object_keys jsonb_object_keys json_to_record
jsonb_to_record json_to_recordset jsonb_to_recordset json_populate_record
jsonb_populate_record json_populate_recordset jsonb_populate_recordset jsonb_path_exists
jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first
jsonb_path_exists_tz jsonb_path_match_tz jsonb_path_query_tz jsonb_path_query_array_tz
jsonb_path_query_first_tz json_agg jsonb_agg json_object_agg jsonb_object_agg
json_agg_strict jsonb_agg_strict json_object_agg_strict jsonb_object_agg_strict
json_object_agg_unique jsonb_object_agg_unique json_object_agg_unique_strict
jsonb_object_agg_unique_strict

array_append array_cat array_dims array_length array_lower array_ndims array_position
array_positions array_prepend array_remove array_replace array_upper cardinality
generate_series generate_subscripts unnest trim_array array_sample array_shuffle

count sum avg min max string_agg array_agg bool_and bool_or every bit_and bit_or bit_xor
stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp
regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy
regr_syy percentile_cont percentile_disc mode range_agg range_intersect_agg any_value

row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
nth_value

num_nulls num_nonnulls pg_typeof gen_random_uuid
pg_column_size pg_size_pretty pg_size_bytes current_database current_schema
pg_collation_for

to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
ts_rank_cd ts_headline setweight strip numnode querytree tsvector_to_array
array_to_tsvector ts_delete ts_filter

lower_inc upper_inc lower_inf upper_inf isempty range_merge multirange
int4range int8range numrange tsrange tstzrange daterange

int2 int4 int8 float4 float8 numeric text varchar bpchar bool date time timetz timestamp
timestamptz interval cidr host hostmask masklen netmask network broadcast
family abbrev set_masklen inet_same_family inet_merge macaddr macaddr8 trunc
`)

// volatileReviewed are allow-listed functions PostgreSQL marks volatile only
// because their result changes from call to call, not because they change
// anything.
var volatileReviewed = setOf(`random clock_timestamp timeofday gen_random_uuid array_sample array_shuffle`)

// builtinTypes are the pg_catalog types a cast may name. Types absent here
// include the reg* catalog-lookup types, xml, internal pseudo-types, and every
// user-defined type or domain (a domain's CHECK may call any function).
var builtinTypes = setOf(`
bool int2 int4 int8 float4 float8 numeric
text varchar bpchar char name date time timetz timestamp timestamptz interval json jsonb
jsonpath uuid bytea inet cidr macaddr macaddr8 money bit varbit tsvector tsquery point
line lseg box path polygon circle int4range int8range numrange tsrange tstzrange daterange
int4multirange int8multirange nummultirange tsmultirange tstzmultirange datemultirange
record oid
`)

// builtinOperators are the operator symbols defined in pg_catalog
// (PostgreSQL 15/16). All of them are backed by side-effect-free functions.
var builtinOperators = setOf(`
!! !~ !~* !~~ !~~* # ## #- #> #>> % & && &< &<| &> * *< *<= *<> *= *> *>= + - -> ->> -|- /
< <-> << <<= <<| <= <> <@ <^ = > >= >> >>= >^ ? ?# ?& ?- ?-| ?| ?|| @ @-@ @> @? @@ @@@ ^
^@ | |&> |/ |>> || ||/ ~ ~* ~<=~ ~<~ ~= ~>=~ ~>~ ~~ ~~*
`)

// tableSampleMethods are the built-in TABLESAMPLE methods.
var tableSampleMethods = setOf(`system bernoulli`)

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
